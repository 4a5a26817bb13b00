"""hsu.examples.echo.v1.EchoService (from hsu/examples/echo/v1/echo.proto): your implementation.

create-hsu-unit wrote this file once and never overwrites it. On regen it adds
a stub for each new RPC just above the marker line at the end of the class.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator  # noqa: F401 (streaming RPCs use it)

import grpc

from ..gen.by_package import hsu_examples_echo_v1 as pb
from ..runtime import Unit


class EchoServiceImpl(pb.EchoServiceServicer):
    """Serves hsu.examples.echo.v1.EchoService."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def Echo(
        self,
        request: pb.EchoRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.EchoResponse:
        """Echo: answers with the message and this unit's id after `delay_ms`.

        A cancelled call (the client gave up, or the drain deadline passed)
        raises CancelledError out of the sleep, so no answer is sent.
        """
        if request.delay_ms > 0:
            await asyncio.sleep(request.delay_ms / 1000)
        return pb.EchoResponse(message=request.message, unit_id=self.unit.unit_id)

    # hsu:new-rpc-stubs (create-hsu-unit regen inserts new RPC stubs above this line; keep it)
