import { createRegistry, type DescFile, type DescService, type JsonReadOptions, type JsonWriteOptions, type Registry } from "@bufbuild/protobuf";
import type { ConnectRouter, Interceptor, ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as v1 from "@hsu/proto/gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "@hsu/proto/gen/grpc/reflection/v1alpha/reflection_pb.js";
import type * as http2 from "node:http2";
import { ReflectionIndex } from "./reflection.ts";

/** What the generic pipeline serves and how. */
export interface GenericHandlerOptions {
  /** Every service but reflection, with its implementation. */
  services: ReadonlyArray<{ service: DescService; impl: Partial<ServiceImpl<DescService>> }>;
  /** Every served service name (reflection's list), in GetInfo's order. */
  serviceNames: readonly string[];
  jsonOptions: Partial<JsonReadOptions & JsonWriteOptions> | undefined;
  readMaxBytes: number;
  interceptors: Interceptor[];
  shutdownSignal: AbortSignal;
}

export type RequestHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

/**
 * connect-node's generic pipeline: every call the unary fast path leaves
 * (streams, the Connect protocol and JSON, compressed requests, unknown
 * paths), and reflection, which only streams. A unit loads this module on
 * the first such call (serve-unit.ts): connect-node, node:http, zlib and the
 * reflection descriptors are not part of its start.
 */
export function createGenericHandler(options: GenericHandlerOptions): RequestHandler {
  const all = [...options.services.map((s) => s.service), v1.ServerReflection, v1alpha.ServerReflection];
  const reflection = new ReflectionIndex(
    all.map((s) => s.file),
    () => options.serviceNames,
  );
  const served = [...options.services, pair(v1.ServerReflection, reflection.v1()), pair(v1alpha.ServerReflection, reflection.v1alpha())];
  const routes = (router: ConnectRouter) => {
    for (const s of served) router.service(s.service, s.impl as ServiceImpl<DescService>);
  };
  return connectNodeAdapter({
    routes,
    jsonOptions: { registry: typesOf(all), ...options.jsonOptions },
    grpc: true,
    grpcWeb: false,
    connect: true,
    readMaxBytes: options.readMaxBytes,
    interceptors: options.interceptors,
    shutdownSignal: options.shutdownSignal,
  });
}

function pair<S extends DescService>(service: S, impl: ServiceImpl<S>): GenericHandlerOptions["services"][number] {
  return { service, impl: impl as unknown as Partial<ServiceImpl<DescService>> };
}

/** Every message and enum type of the services' files and the files they import, for JSON's Any. */
function typesOf(services: readonly DescService[]): Registry {
  const files = new Set<DescFile>();
  const add = (file: DescFile) => {
    if (files.has(file)) return;
    files.add(file);
    for (const dep of file.dependencies) add(dep);
  };
  for (const s of services) add(s.file);
  return createRegistry(...files);
}
