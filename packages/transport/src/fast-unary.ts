import { create, fromBinary, isMessage, toBinary, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createServiceImplSpec,
  type Interceptor,
  type ServiceImpl,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { envelope, grpcContentType, intoOutgoing, UnaryBody } from "./grpc-wire.ts";
import { FastContext } from "./fast-context.ts";

/** Options for {@link createFastUnary}. */
export interface FastUnaryOptions {
  /** Every service served, with its implementation; only unary methods are taken. */
  services: ReadonlyArray<{ service: DescService; impl: Partial<ServiceImpl<DescService>> }>;
  /** Largest request message accepted, in bytes. */
  readMaxBytes: number;
  /** The same interceptors connect-node runs, in the same order. */
  interceptors?: Interceptor[];
  /** When aborted, every call that asked for its signal sees it aborted. */
  shutdownSignal?: AbortSignal;
  /** Largest grpc-timeout honoured (connect's default: none). */
  maxTimeoutMs?: number;
}

/** Answers one stream, or returns false to leave it to connect-node. */
export type StreamFilter = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean;

type Invoke = (req: UnaryRequest) => Promise<UnaryResponse>;

interface Route {
  readonly method: DescMethod & { methodKind: "unary" };
  readonly invoke: Invoke;
}

const okTrailers: OutgoingHttpHeaders = { "grpc-status": "0" };

/**
 * A unary gRPC fast path on the node:http2 stream API, in front of
 * connect-node: unary calls with `application/grpc` (or `+proto`) and no
 * request compression are read, decoded, run through the interceptors and
 * the implementation, and answered here with one HEADERS, one DATA and one
 * trailers frame. Anything else (streams, the Connect protocol, compressed
 * requests, unknown paths) returns false and connect-node serves it.
 */
export function createFastUnary(options: FastUnaryOptions): StreamFilter {
  const routes = new Map<string, Route>();
  const interceptors = options.interceptors ?? [];
  for (const { service, impl } of options.services) {
    const spec = createServiceImplSpec(service, impl as ServiceImpl<DescService>);
    for (const method of service.methods) {
      if (method.methodKind !== "unary") continue;
      const fn = spec.methods[method.localName]!.impl as (input: unknown, ctx: FastContext) => unknown;
      const output = method.output;
      const last: Invoke = async (req) => {
        const ctx = (req as UnaryRequest & { ctx: FastContext }).ctx;
        const message = normalize(output, await fn(req.message, ctx));
        return responseFor(method, ctx, message);
      };
      const invoke = interceptors.length === 0 ? last : interceptors.reduceRight<Invoke>((next, i) => i(next as never) as Invoke, last);
      routes.set(`/${service.typeName}/${method.name}`, { method: method as Route["method"], invoke });
    }
  }
  const readMax = options.readMaxBytes;
  const maxTimeoutMs = options.maxTimeoutMs ?? Number.MAX_SAFE_INTEGER;
  // Calls whose handler asked for its signal: the only ones a shutdown can reach.
  const watched = new Set<FastContext>();
  const watch = (ctx: FastContext) => watched.add(ctx);
  options.shutdownSignal?.addEventListener("abort", () => {
    const reason = new ConnectError("the unit is shutting down", Code.Unavailable);
    for (const ctx of watched) ctx.abort(reason);
    watched.clear();
  });
  const withInterceptors = interceptors.length > 0;

  return (stream, headers) => {
    const route = routes.get(headers[":path"] as string);
    if (route === undefined || headers[":method"] !== "POST") return false;
    const type = headers["content-type"];
    if (type !== "application/grpc" && type !== "application/grpc+proto") return false;
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;

    const rawTimeout = headers["grpc-timeout"];
    const timeout = rawTimeout === undefined ? undefined : parseTimeout(rawTimeout as string, maxTimeoutMs);
    const ctx = new FastContext(route.method, headers, timeout?.timeoutMs, watch);
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      if (ctx.hasSignal) watched.delete(ctx);
    };
    const fail = (error: ConnectError) => {
      if (done) return;
      finish();
      ctx.abort(error);
      respondError(stream, error, ctx);
    };
    stream.on("error", streamError);
    stream.once("close", () => {
      if (!done) {
        finish();
        ctx.abort(new ConnectError("the client cancelled the call", Code.Canceled));
      }
    });
    if (timeout?.error) {
      fail(timeout.error);
      stream.resume();
      return true;
    }
    if (timeout?.timeoutMs !== undefined) {
      timer = setTimeout(() => fail(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeout.timeoutMs);
    }

    const body = new UnaryBody(readMax, "input");
    stream.on("data", (chunk: Buffer) => {
      if (done) return;
      const wrong = body.push(chunk);
      if (wrong !== undefined) fail(wrong);
    });
    stream.once("end", () => {
      if (done) return;
      const bytes = body.end();
      if (bytes === undefined) return fail(new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented));
      if (bytes instanceof ConnectError) return fail(bytes);
      let input;
      try {
        input = fromBinary(route.method.input, bytes);
      } catch (e) {
        return fail(new ConnectError(`parse binary: ${e instanceof Error ? e.message : String(e)}`, Code.Internal));
      }
      const req = withInterceptors ? requestFor(route.method, ctx, input) : ({ message: input, ctx } as unknown as UnaryRequest);
      let pending: Promise<UnaryResponse>;
      try {
        pending = route.invoke(req);
      } catch (e) {
        pending = Promise.reject(e);
      }
      pending.then(
        (res) => {
          if (done) return;
          let bytes: Uint8Array;
          try {
            bytes = toBinary(route.method.output, res.message);
          } catch (e) {
            return fail(new ConnectError(`serialize binary: ${e instanceof Error ? e.message : String(e)}`, Code.Internal));
          }
          finish();
          respondOk(stream, bytes, ctx);
        },
        (e: unknown) => fail(e instanceof ConnectError ? e : new ConnectError("internal error", Code.Internal, undefined, undefined, e)),
      );
    });
    return true;
  };
}

// A stream error is the client resetting the stream (or the connection
// dying): the "close" listener turns it into a cancelled call for the
// handler. Without a listener, node would throw it as uncaught.
function streamError(): void {}

function requestFor(method: DescMethod, ctx: FastContext, message: unknown): UnaryRequest {
  // The shape connect hands to server interceptors; header is the context's
  // request header so an interceptor and the handler see the same object.
  return {
    stream: false,
    service: method.parent,
    method,
    requestMethod: "POST",
    get url() {
      return ctx.url;
    },
    get signal() {
      return ctx.signal;
    },
    get header() {
      return ctx.requestHeader;
    },
    get contextValues() {
      return ctx.values;
    },
    message,
    ctx,
  } as unknown as UnaryRequest;
}

function responseFor(method: DescMethod, ctx: FastContext, message: unknown): UnaryResponse {
  return {
    stream: false,
    service: method.parent,
    method,
    get header() {
      return ctx.responseHeader;
    },
    get trailer() {
      return ctx.responseTrailer;
    },
    message,
  } as unknown as UnaryResponse;
}

function normalize(schema: DescMessage, value: unknown): unknown {
  return isMessage(value, schema) ? value : create(schema, value as never);
}

function respondOk(stream: ServerHttp2Stream, bytes: Uint8Array, ctx: FastContext): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const head: OutgoingHttpHeaders = { ":status": 200, "content-type": grpcContentType };
  const extraHead = ctx.responseHeaderIfAny;
  if (extraHead !== undefined) copyInto(head, extraHead);
  const extraTrail = ctx.responseTrailerIfAny;
  let trailers = okTrailers;
  if (extraTrail !== undefined) {
    trailers = {};
    copyInto(trailers, extraTrail);
    trailers["grpc-status"] = "0";
  }
  try {
    stream.respond(head, { waitForTrailers: true });
  } catch (e) {
    // A header value node refuses (a newline, say) set by the handler.
    respondError(stream, new ConnectError(`invalid response header: ${String(e)}`, Code.Internal), undefined);
    return;
  }
  stream.once("wantTrailers", () => {
    try {
      stream.sendTrailers(trailers);
    } catch (e) {
      stream.sendTrailers(statusOnly(new ConnectError(`invalid response trailer: ${String(e)}`, Code.Internal)));
    }
  });
  stream.end(envelope(bytes));
  drainRest(stream);
}

function respondError(stream: ServerHttp2Stream, error: ConnectError, ctx: FastContext | undefined): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  // Trailers-only: status, message and the error's metadata in one HEADERS frame.
  const all = new Headers(ctx?.responseHeaderIfAny);
  ctx?.responseTrailerIfAny?.forEach((v, k) => all.set(k, v));
  setTrailerStatus(all, error);
  const head: OutgoingHttpHeaders = { ":status": 200, "content-type": grpcContentType };
  copyInto(head, all);
  try {
    stream.respond(head, { endStream: true });
  } catch (e) {
    const bare = new ConnectError(`${error.rawMessage} (and invalid response metadata: ${String(e)})`, error.code);
    stream.respond({ ":status": 200, "content-type": grpcContentType, ...statusOnly(bare) }, { endStream: true });
  }
  drainRest(stream);
}

function statusOnly(error: ConnectError): OutgoingHttpHeaders {
  return { "grpc-status": String(error.code), "grpc-message": encodeURIComponent(error.rawMessage) };
}

function drainRest(stream: ServerHttp2Stream): void {
  // The client may still be sending (an oversized message): read and drop
  // it, so flow control does not stall the connection.
  if (!stream.readableEnded) stream.resume();
}

const reserved = new Set([":status", "content-type", "content-length", "te", "transfer-encoding", "connection", "keep-alive"]);

function copyInto(target: OutgoingHttpHeaders, source: Headers): void {
  intoOutgoing(target, source, reserved);
}
