# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""grpc.health.v1.Health with Check, Watch and List.

Built on grpcio-health-checking's generated stubs rather than its servicer:
that servicer has no List, and its Watch never ends, so a watching master
would hold every graceful stop until the deadline. Here a Watch stream sends
NOT_SERVING when the drain starts and then completes.
"""

from __future__ import annotations

import asyncio
from typing import Iterable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN

SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


class HealthServicer(health_pb2_grpc.HealthServicer):
    """Holds each service's status; `""` is the unit's overall status."""

    def __init__(self) -> None:
        self._status: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._draining = False

    async def set_serving(self, services: Iterable[str]) -> None:
        """Marks the overall status and every named service SERVING."""
        async with self._changed:
            for name in ["", *services]:
                self._status[name] = SERVING
            self._changed.notify_all()

    async def enter_graceful_shutdown(self) -> None:
        """Turns every status NOT_SERVING for good; Watch streams see it and end."""
        async with self._changed:
            self._draining = True
            for name in self._status:
                self._status[name] = NOT_SERVING
            self._changed.notify_all()

    async def Check(self, request, context):
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def List(self, request, context):
        return health_pb2.HealthListResponse(
            statuses={name: health_pb2.HealthCheckResponse(status=s) for name, s in self._status.items()}
        )

    async def Watch(self, request, context):
        last = None
        while True:
            async with self._changed:
                status = self._status.get(request.service, SERVICE_UNKNOWN)
                if status == last and not self._draining:
                    await self._changed.wait()
                    continue
                draining = self._draining
            if status != last:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                last = status
            if draining:
                return
