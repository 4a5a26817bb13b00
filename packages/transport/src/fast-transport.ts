import { create, fromBinary, isMessage, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  type ContextValues,
  type Interceptor,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { codeFromHttpStatus, findTrailerError } from "@connectrpc/connect/protocol-grpc";
import type { ClientHttp2Stream, IncomingHttpHeaders, IncomingHttpStatusHeader, OutgoingHttpHeaders } from "node:http2";
import type { SessionCache } from "./h2-session.ts";

/** Options for {@link createFastUnaryTransport}. */
export interface FastUnaryTransportOptions {
  /** The session to call on. */
  sessions: SessionCache;
  /** The base URL calls are addressed to (only shown to interceptors as `url`). */
  baseUrl: string;
  /** Sent as `authorization: Bearer <token>` on every call, without an interceptor. */
  token?: string;
  /** Interceptors, run as connect runs them around each unary call. */
  interceptors: Interceptor[];
  /** Largest response message accepted. */
  readMaxBytes: number;
  /** Largest request message sent. */
  writeMaxBytes: number;
  /** Deadline for calls that set none. */
  defaultTimeoutMs?: number;
  /** Streaming calls go here (connect-node's gRPC transport). */
  streams: Transport;
}

type HeaderInit = ConstructorParameters<typeof Headers>[0];

type Next = (req: UnaryRequest) => Promise<UnaryResponse>;

/**
 * A connect Transport whose unary calls are one stream each on a cached
 * node:http2 session: one HEADERS + DATA frame out, the reply read straight
 * off the stream, no async-iterable pipeline. Streaming calls go to the
 * given connect-node transport.
 */
export function createFastUnaryTransport(options: FastUnaryTransportOptions): Transport {
  const { sessions, readMaxBytes, writeMaxBytes, baseUrl } = options;
  const auth = options.token === undefined ? undefined : `Bearer ${options.token}`;
  const wire: Next = (req) =>
    call(req.method as DescMethodUnary, req.header, req.signal, req.message, req.contextValues, timeoutOf(req), false);
  const chained = options.interceptors.reduceRight<Next>((next, i) => i(next as never) as Next, wire);

  function call(
    method: DescMethodUnary,
    userHeader: Headers | HeaderInit | undefined,
    signal: AbortSignal | undefined,
    message: unknown,
    _values: ContextValues | undefined,
    timeoutMs: number | undefined,
    withToken: boolean,
  ): Promise<UnaryResponse> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(ConnectError.from(signal.reason, Code.Canceled));
      let bytes: Uint8Array;
      try {
        bytes = toBinary(method.input, isMessage(message, method.input) ? message : create(method.input, message as never));
      } catch (e) {
        return reject(ConnectError.from(e, Code.Internal));
      }
      if (bytes.length > writeMaxBytes) {
        return reject(
          new ConnectError(`message size ${bytes.length} is larger than configured writeMaxBytes ${writeMaxBytes}`, Code.ResourceExhausted),
        );
      }
      const head: OutgoingHttpHeaders = {
        ":method": "POST",
        ":path": `/${method.parent.typeName}/${method.name}`,
        "content-type": "application/grpc",
        te: "trailers",
      };
      if (userHeader !== undefined) copyHeaders(head, userHeader);
      // As the bearer interceptor did: the token replaces any authorization header.
      if (withToken && auth !== undefined) head.authorization = auth;
      if (timeoutMs !== undefined) head["grpc-timeout"] = `${Math.max(0, Math.ceil(timeoutMs))}m`;

      let stream: ClientHttp2Stream;
      const session = sessions.get();
      try {
        stream = session.request(head, { endStream: false });
      } catch (e) {
        return reject(nodeError(e));
      }
      sessions.acquire(session);
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => settle(ConnectError.from(signal!.reason, Code.Canceled), true);
      function settle(result: ConnectError | UnaryResponse, cancel: boolean) {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        sessions.release(session);
        if (cancel && !stream.closed) stream.close(0x8 /* CANCEL */);
        if (result instanceof ConnectError) reject(result);
        else resolve(result);
      }
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => settle(new ConnectError("the operation timed out", Code.DeadlineExceeded), true), timeoutMs);
      }
      signal?.addEventListener("abort", onAbort);

      let header: (IncomingHttpHeaders & IncomingHttpStatusHeader) | undefined;
      let trailer: IncomingHttpHeaders | undefined;
      let first: Buffer | undefined;
      let chunks: Buffer[] | undefined;
      let received = 0;
      stream.once("response", (h) => (header = h));
      stream.once("trailers", (t) => (trailer = t));
      stream.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > readMaxBytes + 5) {
          settle(new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted), true);
          return;
        }
        if (first === undefined) first = chunk;
        else (chunks ??= [first]).push(chunk);
      });
      // REFUSED_STREAM: the server did not process the call (it was going
      // away), which gRPC reports as UNAVAILABLE.
      stream.on("error", (e) => settle(nodeError(e, stream.rstCode === 7), false));
      stream.once("close", () => {
        if (settled) return;
        if (header === undefined) {
          settle(new ConnectError(`the stream closed without a response (code ${stream.rstCode})`, Code.Unavailable), false);
          return;
        }
        settle(finish(method, header, trailer, first, chunks, received), false);
      });
      stream.end(envelope(bytes));
    });
  }

  function finish(
    method: DescMethodUnary,
    header: IncomingHttpHeaders & IncomingHttpStatusHeader,
    trailer: IncomingHttpHeaders | undefined,
    first: Buffer | undefined,
    chunks: Buffer[] | undefined,
    received: number,
  ): ConnectError | UnaryResponse {
    const status = header[":status"];
    if (status !== 200) {
      return new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status ?? 0), toHeaders(header));
    }
    // A trailers-only answer carries grpc-status in the headers.
    const statusSource = trailer ?? header;
    if (statusSource["grpc-status"] !== "0") {
      const err = findTrailerError(toHeaders(statusSource));
      return err ?? new ConnectError("protocol error: missing status", Code.Internal, toHeaders(statusSource));
    }
    if (received < 5) return new ConnectError("protocol error: missing output message for unary method", Code.Unimplemented);
    const all = chunks === undefined ? first! : Buffer.concat(chunks, received);
    if ((all[0]! & 1) === 1) return new ConnectError("received compressed envelope, but do not know how to decompress", Code.Internal);
    const length = all.readUInt32BE(1);
    if (received !== 5 + length) {
      return new ConnectError(
        received < 5 + length ? "protocol error: incomplete envelope" : "protocol error: received extra output message for unary method",
        received < 5 + length ? Code.InvalidArgument : Code.Unimplemented,
      );
    }
    let message;
    try {
      message = fromBinary(method.output, all.subarray(5));
    } catch (e) {
      return new ConnectError(`parse binary: ${e instanceof Error ? e.message : String(e)}`, Code.Internal);
    }
    return new FastResponse(method, header, trailer ?? {}, message) as unknown as UnaryResponse;
  }

  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeaderInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const timeout = timeoutMs ?? options.defaultTimeoutMs;
      if (options.interceptors.length === 0) {
        return call(method as DescMethodUnary, header, signal, input, contextValues, timeout, true) as Promise<UnaryResponse<I, O>>;
      }
      const req = {
        stream: false,
        service: method.parent,
        method,
        requestMethod: "POST",
        url: `${baseUrl}/${method.parent.typeName}/${method.name}`,
        signal: signal ?? new AbortController().signal,
        header: withAuth(new Headers(header), auth),
        contextValues: contextValues ?? createContextValues(),
        message: input,
        timeoutMs: timeout,
      };
      return chained(req as unknown as UnaryRequest) as Promise<UnaryResponse<I, O>>;
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      return options.streams.stream(method, signal, timeoutMs, header, input, contextValues);
    },
  };
}

/** The token goes on before the interceptors run, as the bearer interceptor (always first) did. */
function withAuth(header: Headers, auth: string | undefined): Headers {
  if (auth !== undefined) header.set("authorization", auth);
  return header;
}

function timeoutOf(req: UnaryRequest): number | undefined {
  return (req as UnaryRequest & { timeoutMs?: number }).timeoutMs;
}

/** A UnaryResponse whose header and trailer Headers are built on first read. */
class FastResponse {
  readonly stream = false;
  readonly service;
  readonly method;
  readonly message;
  private readonly rawHeader: IncomingHttpHeaders;
  private readonly rawTrailer: IncomingHttpHeaders;
  private h: Headers | undefined;
  private t: Headers | undefined;

  constructor(method: DescMethodUnary, header: IncomingHttpHeaders, trailer: IncomingHttpHeaders, message: unknown) {
    this.service = method.parent;
    this.method = method;
    this.message = message;
    this.rawHeader = header;
    this.rawTrailer = trailer;
  }

  get header(): Headers {
    return (this.h ??= toHeaders(this.rawHeader));
  }

  get trailer(): Headers {
    return (this.t ??= toHeaders(this.rawTrailer));
  }
}

function envelope(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

const skipOut = new Set(["content-type", "te", "content-length", "connection", "host", "grpc-timeout"]);

function copyHeaders(target: OutgoingHttpHeaders, source: Headers | HeaderInit): void {
  const h = source instanceof Headers ? source : new Headers(source);
  h.forEach((value, key) => {
    if (!skipOut.has(key)) target[key] = value;
  });
}

function toHeaders(raw: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const key in raw) {
    if (key.charCodeAt(0) === 58 /* ":" */) continue;
    const value = raw[key];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(key, v);
    else out.set(key, String(value));
  }
  return out;
}

function nodeError(e: unknown, refused = false): ConnectError {
  const code = (e as { code?: string } | undefined)?.code;
  const unavailable =
    refused ||
    code === "ECONNREFUSED" ||
    code === "ENOENT" ||
    code === "ECONNRESET" ||
    code === "EPIPE" ||
    code === "ETIMEDOUT" ||
    code === "ERR_HTTP2_GOAWAY_SESSION" ||
    code === "ERR_HTTP2_INVALID_SESSION" ||
    code === "ERR_HTTP2_STREAM_CANCEL" ||
    code === "ERR_HTTP2_SESSION_ERROR";
  const err = ConnectError.from(e, unavailable ? Code.Unavailable : Code.Internal);
  if (err !== e) err.cause = e;
  return err;
}
