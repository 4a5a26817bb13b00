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
import { codeFromHttpStatus, findTrailerError, parseContentType } from "@connectrpc/connect/protocol-grpc";
import type { ClientHttp2Stream, IncomingHttpHeaders, IncomingHttpStatusHeader, OutgoingHttpHeaders } from "node:http2";
import { envelope, fromIncoming, grpcContentType, intoOutgoing, UnaryBody } from "./grpc-wire.ts";
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
  /** The error a connection failure (a refused TLS handshake, a peer that hung up) stands for; undefined for any other. */
  explain?: (e: unknown) => ConnectError | undefined;
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
  const failed = (e: unknown, refused = false) => options.explain?.(e) ?? nodeError(e, refused);
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
        "content-type": grpcContentType,
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
        return reject(failed(e));
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
      const body = new UnaryBody(readMaxBytes, "output");
      stream.once("response", (h) => {
        header = h;
        // As connect-node: a reply that is not gRPC fails before its body is read.
        const wrong = checkResponseHead(h);
        if (wrong !== undefined) settle(wrong, true);
      });
      stream.once("trailers", (t) => (trailer = t));
      stream.on("data", (chunk: Buffer) => {
        if (settled) return;
        const wrong = body.push(chunk);
        if (wrong !== undefined) settle(wrong, true);
      });
      // REFUSED_STREAM: the server did not process the call (it was going
      // away), which gRPC reports as UNAVAILABLE.
      stream.on("error", (e) => settle(failed(e, stream.rstCode === 7), false));
      stream.once("close", () => {
        if (settled) return;
        if (header === undefined) {
          const closed = new ConnectError(`the stream closed without a response (code ${stream.rstCode})`, Code.Unavailable);
          if (!options.explain) return settle(closed, false);
          // A TLS alert after the handshake (a client certificate refused) reaches the socket after the stream closed.
          setImmediate(() => settle(options.explain!(closed) ?? closed, false));
          return;
        }
        settle(finish(method, header, trailer, body), false);
      });
      stream.end(envelope(bytes));
    });
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
      // As connect: no deadline given means the default; zero or less means none.
      const given = timeoutMs ?? options.defaultTimeoutMs;
      const timeout = given !== undefined && given > 0 ? given : undefined;
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

/** The response's HTTP status, content type and encoding, checked as connect-node checks them. */
function checkResponseHead(header: IncomingHttpHeaders & IncomingHttpStatusHeader): ConnectError | undefined {
  const status = header[":status"];
  if (status !== 200) return new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status ?? 0), fromIncoming(header));
  const type = header["content-type"];
  const parsed = parseContentType(type ?? null);
  if (parsed === undefined) return new ConnectError(`unsupported content type ${type}`, Code.Unknown, fromIncoming(header));
  if (!parsed.binary) return new ConnectError(`the reply is ${type}, but the call was made in binary protobuf`, Code.Internal, fromIncoming(header));
  const encoding = header["grpc-encoding"];
  if (encoding !== undefined && encoding !== "identity") {
    return new ConnectError(`unsupported response encoding "${encoding}"`, Code.Internal, fromIncoming(header));
  }
  return undefined;
}

/**
 * The call's outcome once the stream has closed, in connect-node's order: the
 * body, then the status in the trailers (the headers' metadata added to an
 * error), then a trailers-only status in the headers, which counts only when
 * no message came.
 */
function finish(
  method: DescMethodUnary,
  header: IncomingHttpHeaders & IncomingHttpStatusHeader,
  trailer: IncomingHttpHeaders | undefined,
  body: UnaryBody,
): ConnectError | UnaryResponse {
  const bytes = body.end();
  if (bytes instanceof ConnectError) return bytes;
  if (trailer !== undefined && trailer["grpc-status"] !== "0") {
    const error = findTrailerError(fromIncoming(trailer));
    if (error !== undefined) {
      fromIncoming(header).forEach((value, key) => error.metadata.append(key, value));
      return error;
    }
  }
  const headerStatus = header["grpc-status"];
  const trailerStatus = trailer?.["grpc-status"];
  if (headerStatus === undefined && trailerStatus === undefined) {
    return new ConnectError("protocol error: missing status", Code.Internal, mergedMetadata(header, trailer));
  }
  if (bytes === undefined) {
    const error = headerStatus === undefined ? undefined : findTrailerError(fromIncoming(header));
    return (
      error ??
      new ConnectError(
        "protocol error: missing output message for unary method",
        trailerStatus !== undefined ? Code.Unimplemented : Code.Unknown,
        mergedMetadata(header, trailer),
      )
    );
  }
  if (headerStatus !== undefined && headerStatus !== "0") {
    return new ConnectError("protocol error: received output message for unary method with error status", Code.Unknown, mergedMetadata(header, trailer));
  }
  let message;
  try {
    message = fromBinary(method.output, bytes);
  } catch (e) {
    return new ConnectError(`parse binary: ${e instanceof Error ? e.message : String(e)}`, Code.Internal, mergedMetadata(header, trailer));
  }
  return new FastResponse(method, header, trailer ?? {}, message) as unknown as UnaryResponse;
}

function mergedMetadata(header: IncomingHttpHeaders, trailer: IncomingHttpHeaders | undefined): Headers {
  const all = fromIncoming(header);
  if (trailer !== undefined) fromIncoming(trailer).forEach((value, key) => all.append(key, value));
  return all;
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
    return (this.h ??= fromIncoming(this.rawHeader));
  }

  get trailer(): Headers {
    return (this.t ??= fromIncoming(this.rawTrailer));
  }
}

const skipOut = new Set(["content-type", "te", "content-length", "connection", "host", "grpc-timeout"]);

function copyHeaders(target: OutgoingHttpHeaders, source: Headers | HeaderInit): void {
  intoOutgoing(target, source instanceof Headers ? source : new Headers(source), skipOut);
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
