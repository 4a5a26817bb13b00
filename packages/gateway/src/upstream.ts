import type { DescMethod } from "@bufbuild/protobuf";
import * as http2 from "node:http2";
import * as net from "node:net";
import { envelope } from "@hsu/transport/grpc-wire";
import type { CallContext, CallError, CallMetadata, StreamResult, UnaryResult, Upstream } from "./protocol.ts";

/** Options of {@link createUpstream}. */
export interface UpstreamOptions {
  /** The master's control socket (HSU_CONTROL_SOCKET). */
  readonly socketPath: string;
  /** Largest message accepted from a unit (default 16 MiB). */
  readonly maxMessageBytes?: number;
}

/** How much longer than the client's deadline the unit is given, so that the gateway is the one reporting it. */
const DEADLINE_GRACE_MS = 100;

/** An {@link Upstream} that can be closed (at shutdown). */
export interface ClosableUpstream extends Upstream {
  close(): void;
}

/** gRPC status codes used here. */
export const GrpcCode = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16,
} as const;

// Never sent to the master as the unit's metadata: credentials, connection headers, the master's own names.
const NEVER = new Set([
  "authorization", "proxy-authorization", "cookie", "set-cookie", "connection", "keep-alive", "proxy-connection",
  "transfer-encoding", "upgrade", "host", "te", "content-type", "content-length", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
]);

/** True when a client header may travel to the unit as metadata (lower-case name). */
export function forwardableMetadata(name: string): boolean {
  return !name.startsWith(":") && !name.startsWith("hsu-") && !NEVER.has(name);
}

/** A gRPC message as a frame: flag 0 (uncompressed), 4-byte length, the bytes (the one copy in @hsu/transport). */
export const grpcFrame = envelope;

function metadataOf(h: http2.IncomingHttpHeaders): CallMetadata {
  const out: CallMetadata = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined || k.startsWith(":")) continue;
    out[k] = Array.isArray(v) ? v.join(", ") : String(v);
  }
  return out;
}

function decodeMessage(m: string | undefined): string {
  if (!m) return "";
  try {
    return decodeURIComponent(m);
  } catch {
    return m;
  }
}

// `/pkg.Service/Method` per method, built once.
const paths = new WeakMap<DescMethod, string>();
function pathOf(method: DescMethod): string {
  let p = paths.get(method);
  if (p === undefined) paths.set(method, (p = `/${method.parent.typeName}/${method.name}`));
  return p;
}

/** The call's error from its trailers (or trailers-only headers), or undefined for OK. */
function statusOf(t: CallMetadata): CallError | undefined | null {
  const s = t["grpc-status"];
  if (s === undefined) return null;
  const code = Number(s);
  if (code === 0) return undefined;
  const details = t["grpc-status-details-bin"];
  return {
    code: Number.isInteger(code) && code > 0 && code <= 16 ? code : GrpcCode.UNKNOWN,
    message: decodeMessage(t["grpc-message"]),
    ...(details ? { details: Buffer.from(details, "base64") } : {}),
  };
}

/**
 * Calls integrated units through the master's unit proxy: gRPC (binary,
 * HTTP/2) on the control socket with `hsu-unit`, the caller headers the
 * master authorizes by, and a grpc-timeout. One HTTP/2 session carries every
 * call; a session that closes, fails or receives GOAWAY is replaced on the
 * next call.
 */
export function createUpstream(options: UpstreamOptions): ClosableUpstream {
  const maxMessage = options.maxMessageBytes ?? 16 * 1024 * 1024;
  let current: http2.ClientHttp2Session | undefined;
  let active = 0;
  const session = (): http2.ClientHttp2Session => {
    if (current && !current.closed && !current.destroyed) return current;
    const s = http2.connect("http://localhost", { createConnection: () => net.connect(options.socketPath) });
    const drop = () => {
      if (current === s) current = undefined;
    };
    // Errors reach the streams; this listener keeps a session error from crashing the gateway.
    s.on("error", drop);
    s.once("close", drop);
    s.once("goaway", drop);
    if (active === 0) s.unref();
    current = s;
    return s;
  };

  function call(
    unit: string,
    method: DescMethod,
    request: Uint8Array,
    ctx: CallContext,
    onMessage: (m: Uint8Array) => void | Promise<void>,
  ): Promise<{ error?: CallError; headers: CallMetadata; trailers: CallMetadata }> {
    return new Promise((resolve) => {
      let headers: CallMetadata = {};
      let trailers: CallMetadata = {};
      let settled = false;
      let failure: CallError | undefined;
      let stream: http2.ClientHttp2Stream | undefined;
      const finish = (error?: CallError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ctx.signal.removeEventListener("abort", onAbort);
        if (--active === 0) current?.unref();
        if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
        resolve({ ...(error ? { error } : {}), headers, trailers });
      };
      const onAbort = () => finish({ code: GrpcCode.CANCELLED, message: `the call to unit "${unit}" was cancelled (the client went away or the gateway is stopping)` });
      // The gateway keeps the client's deadline itself (the unit is given DEADLINE_GRACE_MS more in grpc-timeout),
      // so a call past it ends as DEADLINE_EXCEEDED whatever the unit or the master do.
      const timer = setTimeout(
        () => finish({ code: GrpcCode.DEADLINE_EXCEEDED, message: `the call to unit "${unit}" did not finish within its deadline of ${ctx.timeoutMs} ms (the client's timeout, or gateway.limits.timeout)` }),
        ctx.timeoutMs,
      );
      if (ctx.signal.aborted) return onAbort();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      if (active++ === 0) current?.ref();
      const out: http2.OutgoingHttpHeaders = {};
      const md = ctx.metadata;
      for (const k in md) if (forwardableMetadata(k)) out[k] = md[k];
      // Assigned after the metadata, so a client header can never replace one of these.
      out[":method"] = "POST";
      out[":path"] = pathOf(method);
      out["content-type"] = "application/grpc";
      out.te = "trailers";
      out["grpc-timeout"] = `${Math.max(1, Math.ceil(ctx.timeoutMs + DEADLINE_GRACE_MS))}m`;
      out["hsu-unit"] = unit;
      out["hsu-caller"] = "gateway";
      out["hsu-caller-address"] = ctx.clientAddress;
      if (ctx.authorization !== undefined) out["hsu-caller-authorization"] = ctx.authorization;
      try {
        // A new session is referenced; an existing one was referenced above when this call made `active` non-zero.
        stream = session().request(out);
      } catch (e) {
        return finish({ code: GrpcCode.UNAVAILABLE, message: `cannot reach the master at ${options.socketPath}: ${(e as Error).message}` });
      }
      const st = stream;
      st.on("response", (h) => {
        headers = metadataOf(h);
        const status = Number(h[":status"]);
        if (status !== 200) failure = { code: status === 404 ? GrpcCode.UNIMPLEMENTED : GrpcCode.UNAVAILABLE, message: `the master answered HTTP ${status} for unit "${unit}"` };
      });
      st.on("trailers", (t) => {
        trailers = metadataOf(t);
      });
      let buf: Buffer = Buffer.alloc(0);
      // Messages are handed on one at a time: while the client has not taken one, the stream is paused (back-pressure).
      const queue: Buffer[] = [];
      let running: Promise<void> | undefined;
      const pump = (): Promise<void> =>
        (running ??= (async () => {
          while (queue.length && !settled) {
            const r = onMessage(queue.shift()!);
            if (r instanceof Promise) {
              try {
                await r;
              } catch (e) {
                finish({ code: GrpcCode.CANCELLED, message: `the client stopped reading: ${(e as Error).message}` });
              }
            }
          }
        })().finally(() => {
          running = undefined;
          if (settled) return;
          if (queue.length) void pump();
          else st.resume();
        }));
      st.on("data", (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        while (buf.length >= 5) {
          if ((buf[0]! & 1) === 1) return finish({ code: GrpcCode.INTERNAL, message: `unit "${unit}" sent a compressed message, which the gateway did not ask for` });
          const len = buf.readUInt32BE(1);
          if (len > maxMessage) return finish({ code: GrpcCode.RESOURCE_EXHAUSTED, message: `unit "${unit}" sent a message of ${len} bytes; the gateway takes at most ${maxMessage}` });
          if (buf.length < 5 + len) break;
          queue.push(Buffer.from(buf.subarray(5, 5 + len)));
          buf = buf.subarray(5 + len);
        }
        if (queue.length) {
          st.pause();
          void pump();
        }
      });
      st.on("error", (e) => finish({ code: GrpcCode.UNAVAILABLE, message: `the call to unit "${unit}" through the master failed: ${e.message}` }));
      const drained = async () => {
        while (running) await running;
      };
      st.on("close", () => {
        void drained().then(() => {
          if (settled) return;
          const status = statusOf({ ...headers, ...trailers });
          if (status === null) {
            finish(failure ?? { code: GrpcCode.UNAVAILABLE, message: `the call to unit "${unit}" ended without a status (stream reset ${st.rstCode})` });
          } else finish(status ?? undefined);
        });
      });
      st.end(grpcFrame(request));
    });
  }

  return {
    async unary(unit, method, request, ctx): Promise<UnaryResult> {
      let message: Uint8Array | undefined;
      let count = 0;
      // `call` hands over a copy of its own, so the message is kept as it is.
      const r = await call(unit, method, request, ctx, (m) => {
        count++;
        message = m;
      });
      if (r.error) return { ok: false, error: r.error, headers: r.headers, trailers: r.trailers };
      if (count !== 1) {
        return { ok: false, error: { code: GrpcCode.INTERNAL, message: `unit "${unit}" answered ${count} messages to a unary call` }, headers: r.headers, trailers: r.trailers };
      }
      return { ok: true, message: message!, headers: r.headers, trailers: r.trailers };
    },
    async serverStream(unit, method, request, ctx, onMessage): Promise<StreamResult> {
      const r = await call(unit, method, request, ctx, onMessage);
      return r.error ? { ok: false, error: r.error, headers: r.headers, trailers: r.trailers } : { ok: true, headers: r.headers, trailers: r.trailers };
    },
    close() {
      current?.close();
      current = undefined;
    },
  };
}
