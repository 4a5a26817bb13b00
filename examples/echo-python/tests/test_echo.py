"""EchoService against the real unit process: the answer, the delay, and a
call in flight that survives a graceful Shutdown."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from echo_python.gen.hsu.core.v1 import core_pb2, core_pb2_grpc
from echo_python.gen.by_package import hsu_examples_echo_v1 as pb

PROJECT = Path(__file__).resolve().parent.parent
TOKEN = "echo-test-token"


@pytest.fixture
def unit(tmp_path):
    """A running echo unit on a Unix socket: (process, address)."""
    sock = tmp_path / "echo.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HSU_")}
    env.update(PYTHONPATH=str(PROJECT), HSU_LISTEN=f"unix:{sock}", HSU_UNIT_ID="echo-7", HSU_TOKEN=TOKEN)
    command = shlex.split(os.environ.get("UNIT_COMMAND", "")) or [sys.executable, "-m", "echo_python"]
    proc = subprocess.Popen(
        command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    for line in proc.stdout:
        if "listening on" in line:
            break
    else:
        pytest.fail(f"the unit exited with code {proc.wait()} before listening")
    yield proc, f"unix:{sock}"
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_echo_answers_with_the_message_and_the_unit_id(unit):
    _, address = unit
    with grpc.insecure_channel(address) as channel:
        reply = pb.EchoServiceStub(channel).Echo(pb.EchoRequest(message="hello", delay_ms=50))
    assert (reply.message, reply.unit_id) == ("hello", "echo-7")


def test_a_call_in_flight_finishes_during_shutdown(unit):
    proc, address = unit
    with grpc.insecure_channel(address) as channel:
        echo = pb.EchoServiceStub(channel)
        # Wait for readiness of the call path itself before starting the slow call.
        assert echo.Echo(pb.EchoRequest(message="warm")).message == "warm"
        slow = echo.Echo.future(pb.EchoRequest(message="slow", delay_ms=800))
        core = core_pb2_grpc.CoreServiceStub(channel)
        core.Shutdown(core_pb2.ShutdownRequest(reason="test"), metadata=(("authorization", f"Bearer {TOKEN}"),))
        assert slow.result(timeout=10).message == "slow"
    assert proc.wait(timeout=10) == 0


def test_a_cancelled_call_does_not_stop_the_unit(unit):
    _, address = unit
    with grpc.insecure_channel(address) as channel:
        echo = pb.EchoServiceStub(channel)
        pending = echo.Echo.future(pb.EchoRequest(message="never", delay_ms=60_000))
        assert pending.cancel()
        assert echo.Echo(pb.EchoRequest(message="after")).message == "after"
