# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""The handshake (unit contract, section 4): Register with the master once the
unit listens, retrying UNAVAILABLE for up to 10 s."""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

import grpc

from ..gen.hsu.core.v1 import core_pb2
from ..gen.hsu.master.v1 import registration_pb2, registration_pb2_grpc
from .address import Address

REGISTER_TIMEOUT_S = 10.0


class RegistrationError(Exception):
    """The master refused or never answered Register; the unit exits with code 3."""


async def register(
    master: Address,
    token: str | None,
    info: core_pb2.UnitInfo,
    timeout_s: float = REGISTER_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> str:
    """Calls RegistrationService/Register; returns the master's id.

    UNAVAILABLE (master not listening yet, connection refused) is retried
    with a growing pause until `timeout_s`; any other error fails at once.
    """
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    request = registration_pb2.RegisterRequest(info=info)
    give_up_at = clock() + timeout_s
    pause = 0.05
    # gRPC's default reconnect backoff grows to minutes; a master that comes
    # up a moment late must be found within the 10 s window.
    options = [
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]
    if master.is_unix:
        # grpcio would send the percent-encoded socket path as :authority,
        # which HTTP servers that parse it as a URL host (connect-node) reject.
        options.append(("grpc.default_authority", "localhost"))
    # The last attempt runs out of budget with DEADLINE_EXCEEDED; the error
    # worth reporting is the master's own last answer before that.
    answer: grpc.aio.AioRpcError | None = None
    async with grpc.aio.insecure_channel(master.grpc_target(), options=options) as channel:
        stub = registration_pb2_grpc.RegistrationServiceStub(channel)
        while True:
            left = give_up_at - clock()
            try:
                reply = await stub.Register(request, metadata=metadata, timeout=max(left, 0.001))
                return reply.master_id
            except grpc.aio.AioRpcError as err:
                timed_out = err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                if not timed_out or answer is None:
                    answer = err
                retry = timed_out or err.code() == grpc.StatusCode.UNAVAILABLE
                left = give_up_at - clock()
                if not retry or left <= 0:
                    shown = answer if retry else err
                    how = f"for {timeout_s:g} s" if retry else "and the error is final"
                    raise RegistrationError(
                        f"Register on the master at {master} failed {how}: "
                        f"{shown.code().name}: {shown.details()}. Check HSU_MASTER_ADDR and HSU_TOKEN."
                    ) from err
                await sleep(min(pause, left))
                pause = min(pause * 2, 1.0)
