# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""Server reflection, v1 and v1alpha, so grpcurl and other stock clients can
list and describe every service the unit serves.

grpcio-reflection serves only v1alpha. The v1 protocol is wire-identical
(same fields and numbers, another package name), so the same servicer also
answers v1 under v1's method path; the generated v1 module is imported only
so that v1's own descriptor is in the pool and can be described too.
"""

from __future__ import annotations

from typing import Sequence

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from ..gen.grpc.reflection.v1 import reflection_pb2 as v1_pb2

V1_SERVICE_NAME = v1_pb2.DESCRIPTOR.services_by_name["ServerReflection"].full_name
V1ALPHA_SERVICE_NAME = reflection.SERVICE_NAME


def add_reflection(server: grpc.aio.Server, service_names: Sequence[str]) -> None:
    """Serves reflection (both versions) listing `service_names`."""
    servicer = reflection.aio.ReflectionServicer(list(service_names))
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    for service in (V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME):
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler}),)
        )
