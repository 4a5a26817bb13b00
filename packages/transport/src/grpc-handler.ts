import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, Interceptor, ServiceImpl } from "@connectrpc/connect";
import type * as http2 from "node:http2";
import { createFastUnary, type StreamFilter } from "./fast-unary.ts";

/** A compat-API request handler, as node:http2's server calls it. */
export type GrpcRequestHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

/** Options for {@link createGrpcHandler}. */
export interface GrpcHandlerOptions {
  /** The services served, as connect-node's `routes`: called once, and only `router.service` and `router.rpc` may be used. */
  routes: (router: ConnectRouter) => void;
  /** Run on every call, on both paths, in this order. */
  interceptors?: Interceptor[];
  /** Largest request message accepted, in bytes (default: connect-node's, 0xffffffff). */
  readMaxBytes?: number;
  /** Serve the Connect protocol (JSON and binary) besides gRPC. Default true. */
  connect?: boolean;
  /** Requests for a path no route serves; without it they answer UNIMPLEMENTED (connect-node's 404). */
  fallback?: GrpcRequestHandler;
  /** When aborted, calls that asked for their signal see it aborted. */
  shutdownSignal?: AbortSignal;
  /** Told when connect-node cannot be loaded (the request is answered 500). */
  log?: (line: string) => void;
}

/** The two halves of one HTTP/2 server: give both to `listenH2c`. */
export interface GrpcHandler {
  /** Unary gRPC calls to a route, answered on the node:http2 stream API (fast-unary.ts). */
  readonly streamFilter: StreamFilter;
  /** Everything else: a path no route serves goes to `fallback`; the rest to connect-node, loaded on the first such call. */
  readonly handler: GrpcRequestHandler;
}

/**
 * One gRPC server, two paths: unary gRPC calls on the fast path, and
 * connect-node - with node:https, zlib and Node's fetch behind it,
 * about 5 MiB of a process's memory - imported only when a call needs it (a
 * stream, the Connect protocol, a compressed request). A process that only
 * ever answers unary gRPC calls never loads it.
 */
export function createGrpcHandler(options: GrpcHandlerOptions): GrpcHandler {
  const services = new Map<DescService, Record<string, unknown>>();
  const paths = new Set<string>();
  const impl = (service: DescService) => {
    let m = services.get(service);
    if (!m) services.set(service, (m = {}));
    return m;
  };
  const recorder = {
    service(service: DescService, i: Partial<ServiceImpl<DescService>>) {
      Object.assign(impl(service), i);
      for (const method of service.methods) paths.add(`/${service.typeName}/${method.name}`);
      return recorder;
    },
    rpc(method: DescMethod, fn: unknown) {
      impl(method.parent)[method.localName] = fn;
      paths.add(`/${method.parent.typeName}/${method.name}`);
      return recorder;
    },
  };
  options.routes(recorder as unknown as ConnectRouter);
  const interceptors = options.interceptors ?? [];
  const readMaxBytes = options.readMaxBytes ?? 0xffffffff;
  const streamFilter = createFastUnary({
    services: [...services].map(([service, i]) => ({ service, impl: i as Partial<ServiceImpl<DescService>> })),
    readMaxBytes,
    interceptors,
    ...(options.shutdownSignal ? { shutdownSignal: options.shutdownSignal } : {}),
  });
  let generic: Promise<GrpcRequestHandler> | undefined;
  const load = () =>
    (generic ??= import("@connectrpc/connect-node").then(
      (m) =>
        m.connectNodeAdapter({
          // The implementations recorded above: `routes` runs once, so both paths share one of each.
          routes: (router) => {
            for (const [service, i] of services) router.service(service, i as Partial<ServiceImpl<DescService>>);
          },
          grpc: true,
          connect: options.connect ?? true,
          grpcWeb: false,
          readMaxBytes,
          interceptors,
          ...(options.shutdownSignal ? { shutdownSignal: options.shutdownSignal } : {}),
          ...(options.fallback ? { fallback: options.fallback as never } : {}),
        }) as GrpcRequestHandler,
    ));
  const handler: GrpcRequestHandler = (req, res) => {
    const path = req.headers[":path"] ?? "";
    // A path no route serves never needs connect-node (its own answer would be the fallback's, or a 404).
    if (options.fallback && !paths.has(path.split("?", 1)[0]!)) return options.fallback(req, res);
    load().then(
      (h) => h(req, res),
      (e: unknown) => {
        generic = undefined;
        options.log?.(`cannot serve ${path}: ${(e as Error).message}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      },
    );
  };
  return { streamFilter, handler };
}
