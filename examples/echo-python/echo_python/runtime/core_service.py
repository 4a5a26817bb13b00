# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""hsu.core.v1.CoreService: Ping, GetInfo and the token-checked Shutdown and Reconfigure."""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import time
from typing import Callable

import grpc

from ..gen.hsu.core.v1 import core_pb2, core_pb2_grpc
from .config import ConfigDirError, OnReconfigure, ReconfigureEvent, read_config_dir
from .stopper import DEFAULT_DRAIN_S, Stopper

SERVICE_NAME = core_pb2.DESCRIPTOR.services_by_name["CoreService"].full_name

log = logging.getLogger("hsu.core")


def bearer_token(context: grpc.aio.ServicerContext) -> str | None:
    """The token of an `authorization: Bearer <token>` header, or None without one."""
    for key, value in context.invocation_metadata() or ():
        if key.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class CoreServicer(core_pb2_grpc.CoreServiceServicer):
    """Answers the master's questions about this unit and stops it on request."""

    def __init__(
        self,
        unit_id: str,
        token: str | None,
        info: Callable[[], core_pb2.UnitInfo],
        stopper: Stopper,
        config_dir: str | None = None,
        on_reconfigure: OnReconfigure | None = None,
    ):
        self._unit_id = unit_id
        self._token = token.encode("utf-8") if token else None
        self._info = info
        self._stopper = stopper
        self._config_dir = config_dir
        self._on_reconfigure = on_reconfigure
        # One reload at a time: the hook never sees two at once.
        self._reloads = asyncio.Lock()

    async def _authorize(self, method: str, context) -> None:
        given = bearer_token(context)
        if given is None or self._token is None:
            why = f"no HSU_TOKEN is set, so {method} is refused" if self._token is None else (
                f"{method} needs the metadata authorization: Bearer <HSU_TOKEN>"
            )
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, why)
        if not hmac.compare_digest(given.encode("utf-8"), self._token):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"the {method} token is wrong")

    async def Ping(self, request, context):
        return core_pb2.PingResponse(unit_id=self._unit_id)

    async def GetInfo(self, request, context):
        return core_pb2.GetInfoResponse(info=self._info())

    async def Shutdown(self, request, context):
        await self._authorize("Shutdown", context)
        grace = DEFAULT_DRAIN_S
        if request.HasField("deadline") and request.deadline.ToNanoseconds() > 0:
            grace = request.deadline.ToNanoseconds() / 1e9
        reply = core_pb2.ShutdownResponse()
        reply.deadline.FromNanoseconds(int((time.time() + grace) * 1e9))
        log.info("Shutdown requested (%s), draining for up to %.3g s", request.reason or "no reason given", grace)
        # The stop only starts the drain; this call is in flight, so it still completes.
        self._stopper.request_stop(f"Shutdown: {request.reason or 'no reason given'}", grace)
        return reply

    async def Reconfigure(self, request, context):
        await self._authorize("Reconfigure", context)
        if self._on_reconfigure is None:
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                "Reconfigure: this unit has no reload hook (UnitSpec.on_reconfigure); restart it to load new config",
            )
        async with self._reloads:
            try:
                files = read_config_dir(self._config_dir)
            except ConfigDirError as e:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Reconfigure: {e}; the unit keeps its previous config")
            event = ReconfigureEvent(
                generation=request.generation,
                changed_files=list(request.changed_files),
                dir=self._config_dir or "",
                files=files,
            )
            try:
                done = self._on_reconfigure(event)
                if inspect.isawaitable(done):
                    await done
            except Exception as e:  # the hook's refusal, whatever its type, goes back to the master
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Reconfigure: the unit refused the new config: {e}")
        reply = core_pb2.ReconfigureResponse(generation=request.generation)
        for f in files:
            reply.files.add(name=f.name, sha256=f.sha256)
        log.info("Reconfigure: loaded %d file(s) of generation %d", len(files), request.generation)
        return reply
