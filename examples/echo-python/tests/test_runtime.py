"""The time-based parts of the runtime, driven by a fake clock: the handshake's
retry budget (against a real in-process master) and the master-death poll."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from echo_python.gen.hsu.core.v1 import core_pb2
from echo_python.gen.hsu.master.v1 import registration_pb2, registration_pb2_grpc
from echo_python.runtime.address import parse_address
from echo_python.runtime.master_watch import watch_master
from echo_python.runtime.registration import RegistrationError, register


class FakeClock:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedMaster(registration_pb2_grpc.RegistrationServiceServicer):
    """Answers Register with the given codes in turn, then succeeds."""

    def __init__(self, codes: list[grpc.StatusCode]) -> None:
        self.codes = list(codes)
        self.calls = 0

    async def Register(self, request, context):
        self.calls += 1
        if self.codes:
            await context.abort(self.codes.pop(0), "scripted")
        return registration_pb2.RegisterResponse(master_id="m-1")


async def with_master(tmp_path, master: ScriptedMaster, body):
    server = grpc.aio.server()
    registration_pb2_grpc.add_RegistrationServiceServicer_to_server(master, server)
    address = parse_address(f"unix:{tmp_path}/master.sock")
    server.add_insecure_port(address.grpc_target())
    await server.start()
    try:
        return await body(address)
    finally:
        await server.stop(0)


def test_register_retries_unavailable_then_succeeds(tmp_path):
    master = ScriptedMaster([grpc.StatusCode.UNAVAILABLE] * 3)
    clock = FakeClock()
    info = core_pb2.UnitInfo(unit_id="u")
    result = asyncio.run(with_master(
        tmp_path, master, lambda a: register(a, "t", info, clock=clock, sleep=clock.sleep)
    ))
    assert (result, master.calls) == ("m-1", 4)
    assert clock.sleeps == sorted(clock.sleeps), "the pause between attempts grows"


def test_register_gives_up_on_unavailable_after_the_budget(tmp_path):
    master = ScriptedMaster([grpc.StatusCode.UNAVAILABLE] * 1000)
    clock = FakeClock()
    info = core_pb2.UnitInfo(unit_id="u")
    with pytest.raises(RegistrationError, match="for 10 s: UNAVAILABLE"):
        asyncio.run(with_master(tmp_path, master, lambda a: register(a, "t", info, clock=clock, sleep=clock.sleep)))
    assert clock.now == pytest.approx(10.0)


def test_register_fails_at_once_on_a_final_error(tmp_path):
    master = ScriptedMaster([grpc.StatusCode.PERMISSION_DENIED])
    clock = FakeClock()
    info = core_pb2.UnitInfo(unit_id="u")
    with pytest.raises(RegistrationError, match="PERMISSION_DENIED"):
        asyncio.run(with_master(tmp_path, master, lambda a: register(a, "t", info, clock=clock, sleep=clock.sleep)))
    assert (master.calls, clock.sleeps) == (1, [])


def test_master_watch_reports_a_gone_master_once():
    answers = iter([True, True, False])
    gone: list[bool] = []
    clock = FakeClock()
    asyncio.run(watch_master(42, lambda: gone.append(True), alive=lambda pid: next(answers), sleep=clock.sleep))
    assert gone == [True]
    assert clock.sleeps == [0.25, 0.25]
