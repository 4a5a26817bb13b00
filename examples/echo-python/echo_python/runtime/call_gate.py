# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""Every call passes through the CallGate, a server interceptor that:

- refuses new calls with UNAVAILABLE once the unit drains (unit contract,
  section 5), while the listener stays open for the calls in flight. Stopping
  the grpc server at once would refuse them at the HTTP/2 level instead
  (REFUSED_STREAM), which some clients report as INTERNAL. Health stays open:
  a master polling it during the drain reads NOT_SERVING;
- counts calls in flight, so the drain ends as soon as the last one does;
- parses request bytes itself and answers a malformed request with
  INVALID_ARGUMENT (section 3); grpc.aio would report UNKNOWN.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Awaitable, Callable

import grpc

Parse = Callable[[bytes], Any]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]

_ALWAYS_OPEN = "/grpc.health.v1.Health/"


class CallGate(grpc.aio.ServerInterceptor):
    """Admits, counts and parses calls; see the module doc."""

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler | None] = {}
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False

    def start_draining(self) -> None:
        """From now on, new calls (except health) are refused with UNAVAILABLE."""
        self._draining = True

    async def wait_idle(self) -> None:
        """Returns once no admitted call is running."""
        await self._idle.wait()

    async def intercept_service(self, continuation: Continuation, details: grpc.HandlerCallDetails):
        method = details.method
        if self._draining and not method.startswith(_ALWAYS_OPEN):
            handler = await continuation(details)
            return None if handler is None else _refusal(handler)
        if method not in self._wrapped:
            handler = await continuation(details)
            self._wrapped[method] = None if handler is None else self._wrap(handler)
        return self._wrapped[method]

    def _wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        parse: Parse | None = handler.request_deserializer
        serialize = handler.response_serializer
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(self._unary_in(handler.unary_unary, parse), None, serialize)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(self._unary_in(handler.unary_stream, parse), None, serialize)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(self._stream_in(handler.stream_unary, parse), None, serialize)
        return grpc.stream_stream_rpc_method_handler(self._stream_in(handler.stream_stream, parse), None, serialize)

    def _enter(self) -> None:
        self._in_flight += 1
        self._idle.clear()

    def _leave(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    def _unary_in(self, behavior: Callable, parse: Parse | None) -> Callable:
        if inspect.isasyncgenfunction(behavior):
            async def stream(raw, context):
                self._enter()
                try:
                    async for response in behavior(await _parse_or_abort(parse, raw, context), context):
                        yield response
                finally:
                    self._leave()
            return stream

        async def call(raw, context):
            self._enter()
            try:
                return await _result(behavior(await _parse_or_abort(parse, raw, context), context))
            finally:
                self._leave()
        return call

    def _stream_in(self, behavior: Callable, parse: Parse | None) -> Callable:
        async def requests(raw_requests, context):
            async for raw in raw_requests:
                yield await _parse_or_abort(parse, raw, context)

        if inspect.isasyncgenfunction(behavior):
            async def stream(raw_requests, context):
                self._enter()
                try:
                    async for response in behavior(requests(raw_requests, context), context):
                        yield response
                finally:
                    self._leave()
            return stream

        async def call(raw_requests, context):
            self._enter()
            try:
                return await _result(behavior(requests(raw_requests, context), context))
            finally:
                self._leave()
        return call


async def _parse_or_abort(parse: Parse | None, raw: Any, context: grpc.aio.ServicerContext) -> Any:
    if parse is None:
        return raw
    try:
        return parse(raw)
    except Exception as err:  # protobuf raises DecodeError; other codecs raise other types
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid message: {err}")


async def _result(value: Any) -> Any:
    # grpc.aio also accepts plain (non-async) handlers.
    return await value if inspect.isawaitable(value) else value


async def _refuse(_request: Any, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAVAILABLE, "the unit is shutting down; call another replica or retry later")


def _refusal(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape that refuses the call."""
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(_refuse)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(_refuse)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(_refuse)
    return grpc.stream_stream_rpc_method_handler(_refuse)
