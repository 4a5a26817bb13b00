"""Starts the unit as a real process and checks the unit contract against it:
handshake, Core API, health, Shutdown tokens, signals, master death, exit codes.

Set UNIT_COMMAND to test another build of the same unit, e.g.
`UNIT_COMMAND=build/unit/unit bash scripts/dev.sh test` for the Nuitka binary.
"""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from echo_python.gen.grpc.reflection.v1 import reflection_pb2, reflection_pb2_grpc
from echo_python.gen.hsu.core.v1 import core_pb2, core_pb2_grpc
from echo_python.gen.hsu.master.v1 import registration_pb2, registration_pb2_grpc

PROJECT = Path(__file__).resolve().parent.parent
TOKEN = "s3cret-token"
WAIT_S = 20


def unit_command() -> list[str]:
    custom = os.environ.get("UNIT_COMMAND")
    return shlex.split(custom) if custom else [sys.executable, "-m", "echo_python"]


class FakeMaster(registration_pb2_grpc.RegistrationServiceServicer):
    """A real RegistrationService that records each Register and answers with `reply_code`."""

    def __init__(self, reply_code: grpc.StatusCode | None = None) -> None:
        self.calls: queue.Queue = queue.Queue()
        self.reply_code = reply_code

    def Register(self, request, context):
        self.calls.put((request, dict(context.invocation_metadata())))
        if self.reply_code is not None:
            context.abort(self.reply_code, "refused by the test master")
        return registration_pb2.RegisterResponse(master_id="test-master")


@pytest.fixture
def master(tmp_path):
    def start(reply_code: grpc.StatusCode | None = None):
        servicer = FakeMaster(reply_code)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        registration_pb2_grpc.add_RegistrationServiceServicer_to_server(servicer, server)
        servicer.address = f"unix:{tmp_path}/master.sock"
        server.add_insecure_port(servicer.address)
        server.start()
        started.append(server)
        return servicer

    started: list[grpc.Server] = []
    yield start
    for server in started:
        server.stop(0)


@pytest.fixture
def spawn():
    procs: list[subprocess.Popen] = []

    def start(env: dict[str, str], argv: list[str] | None = None) -> subprocess.Popen:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("HSU_")}
        full_env["PYTHONPATH"] = str(PROJECT)
        full_env.update(env)
        proc = subprocess.Popen(
            unit_command() + (argv or []), cwd=PROJECT, env=full_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def read_until(proc: subprocess.Popen, needle: str) -> str:
    """Reads the unit's log until a line holds `needle` (the readiness signal)."""
    for line in proc.stdout:
        if needle in line:
            return line
    raise AssertionError(f"the unit exited (code {proc.wait()}) before logging {needle!r}")


def test_handshake_core_health_and_shutdown(tmp_path, master, spawn):
    m = master()
    sock = tmp_path / "unit.sock"
    sock_address = f"unix:{sock}"
    proc = spawn({"HSU_MASTER_ADDR": m.address, "HSU_LISTEN": f"unix://{sock}", "HSU_TOKEN": TOKEN, "HSU_UNIT_ID": "u-1"})
    request, metadata = m.calls.get(timeout=WAIT_S)
    assert metadata.get("authorization") == f"Bearer {TOKEN}"
    info = request.info
    assert (info.unit_id, info.address, info.pid, info.runtime.language) == ("u-1", sock_address, proc.pid, "python")
    assert info.runtime.version.startswith("CPython 3.") and info.runtime.grpc_library.startswith("grpcio ")
    for name in ("hsu.core.v1.CoreService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"):
        assert name in info.services
    assert info.start_time.seconds > 0 and info.version != "" and info.name != ""

    with grpc.insecure_channel(sock_address) as channel:
        core = core_pb2_grpc.CoreServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        assert core.Ping(core_pb2.PingRequest()).unit_id == "u-1"
        assert core.GetInfo(core_pb2.GetInfoRequest()).info.address == sock_address
        for service in ["", *info.services]:
            assert health.Check(health_pb2.HealthCheckRequest(service=service)).status == health_pb2.HealthCheckResponse.SERVING

        for metadata, code in [
            ((), grpc.StatusCode.UNAUTHENTICATED),
            ((("authorization", "Bearer wrong"),), grpc.StatusCode.PERMISSION_DENIED),
        ]:
            with pytest.raises(grpc.RpcError) as refused:
                core.Shutdown(core_pb2.ShutdownRequest(), metadata=metadata)
            assert refused.value.code() == code
        assert core.Ping(core_pb2.PingRequest()).unit_id == "u-1"

        watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
        statuses = iter(watch)
        assert next(statuses).status == health_pb2.HealthCheckResponse.SERVING
        core.Shutdown(core_pb2.ShutdownRequest(reason="test"), metadata=(("authorization", f"Bearer {TOKEN}"),))
        assert next(statuses).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert proc.wait(timeout=WAIT_S) == 0
    assert not sock.exists()


def test_sigterm_drains_and_exits_zero(spawn):
    proc = spawn({}, ["--listen", "127.0.0.1:0"])
    port = read_until(proc, "listening on").rsplit(":", 1)[1].strip()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        assert core_pb2_grpc.CoreServiceStub(channel).Ping(core_pb2.PingRequest()).unit_id != ""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=WAIT_S) == 0


def test_unset_token_refuses_every_shutdown(tmp_path, spawn):
    sock = tmp_path / "u.sock"
    proc = spawn({"HSU_LISTEN": f"unix:{sock}"})
    read_until(proc, "listening on")
    with grpc.insecure_channel(f"unix:{sock}") as channel:
        with pytest.raises(grpc.RpcError) as refused:
            core_pb2_grpc.CoreServiceStub(channel).Shutdown(
                core_pb2.ShutdownRequest(), metadata=(("authorization", "Bearer anything"),)
            )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("listen", ["not an address", "unix:/" + "x" * 120 + ".sock"])
def test_bad_listen_address_exits_2(spawn, listen):
    assert spawn({"HSU_LISTEN": listen}).wait(timeout=WAIT_S) == 2


def test_refused_handshake_exits_3(tmp_path, master, spawn):
    m = master(grpc.StatusCode.PERMISSION_DENIED)
    proc = spawn({"HSU_MASTER_ADDR": m.address, "HSU_LISTEN": f"unix:{tmp_path}/u.sock", "HSU_TOKEN": "bad"})
    assert proc.wait(timeout=WAIT_S) == 3


def test_exits_when_the_master_dies(tmp_path, master, spawn):
    m = master()
    # A stand-in master process: it starts the unit as its own child and is then SIGKILLed.
    launcher = (
        "import os, subprocess, sys; "
        "env = dict(os.environ, HSU_MASTER_PID=str(os.getpid())); "
        "subprocess.Popen(sys.argv[1:], env=env).wait()"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", launcher, *unit_command()], cwd=PROJECT, start_new_session=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("HSU_")}, "PYTHONPATH": str(PROJECT),
             "HSU_MASTER_ADDR": m.address, "HSU_LISTEN": f"unix:{tmp_path}/u.sock"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        m.calls.get(timeout=WAIT_S)
        parent.kill()
        parent.wait()
        # The unit shares the pipe: end of file means it has exited too.
        log: list[str] = []
        reader = threading.Thread(target=lambda: log.append(parent.stdout.read()), daemon=True)
        reader.start()
        reader.join(timeout=WAIT_S)
        assert log, "the unit was still running after its master died"
        assert "is gone" in log[0] and "stopped" in log[0]
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_malformed_request_bytes_get_invalid_argument(tmp_path, spawn):
    sock = tmp_path / "u.sock"
    proc = spawn({"HSU_LISTEN": f"unix:{sock}"})
    read_until(proc, "listening on")
    with grpc.insecure_channel(f"unix:{sock}") as channel:
        raw_ping = channel.unary_unary("/hsu.core.v1.CoreService/Ping")
        with pytest.raises(grpc.RpcError) as refused:
            raw_ping(b"\xff\xff\xff")
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert core_pb2_grpc.CoreServiceStub(channel).Ping(core_pb2.PingRequest()).unit_id != ""


def test_draining_refuses_new_calls_while_one_is_in_flight(tmp_path, spawn):
    sock = tmp_path / "u.sock"
    proc = spawn({"HSU_LISTEN": f"unix:{sock}", "HSU_TOKEN": TOKEN})
    read_until(proc, "listening on")
    with grpc.insecure_channel(f"unix:{sock}") as channel:
        # An open reflection stream is a call in flight that lasts as long as the client wants.
        outgoing: queue.Queue = queue.Queue()
        stream = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(iter(outgoing.get, None))
        outgoing.put(reflection_pb2.ServerReflectionRequest(list_services=""))
        assert next(stream).list_services_response.service
        core = core_pb2_grpc.CoreServiceStub(channel)
        deadline = duration_pb2.Duration(seconds=30)
        core.Shutdown(core_pb2.ShutdownRequest(deadline=deadline), metadata=(("authorization", f"Bearer {TOKEN}"),))
        with pytest.raises(grpc.RpcError) as refused:
            core.Ping(core_pb2.PingRequest())
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert proc.poll() is None
        outgoing.put(None)  # the last call in flight ends: the drain is over long before its deadline
        assert list(stream) == []
    assert proc.wait(timeout=WAIT_S) == 0
