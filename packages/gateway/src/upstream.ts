import type { DescMethod } from "@bufbuild/protobuf";
import * as http2 from "node:http2";
import * as net from "node:net";
import { parseAddress } from "@hsu/transport";
import { envelope } from "@hsu/transport/grpc-wire";
import { grantKey, type DirectGrants } from "./direct.ts";
import type { CallContext, CallError, CallMetadata, StreamResult, UnaryResult, Upstream } from "./protocol.ts";

/** Options of {@link createUpstream}. */
export interface UpstreamOptions {
  /** The master's control socket (HSU_CONTROL_SOCKET). */
  readonly socketPath: string;
  /** Largest message accepted from a unit (default 16 MiB). */
  readonly maxMessageBytes?: number;
  /** Direct grants (direct.ts): calls the master has authorized go to the unit's socket itself. None: every call goes through the master. */
  readonly direct?: DirectGrants;
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

// Never taken from a unit's answer (the master's unit proxy drops them too): credentials and cookies.
const NEVER_FROM_UNIT = new Set(["authorization", "proxy-authorization", "cookie", "set-cookie"]);

function metadataOf(h: http2.IncomingHttpHeaders): CallMetadata {
  const out: CallMetadata = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined || k.startsWith(":") || NEVER_FROM_UNIT.has(k)) continue;
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
 * master authorizes by, and a grpc-timeout - or, with `direct`, straight to
 * the unit's socket for a caller and method the master has granted (without
 * the `hsu-*` headers; a call the unit's socket never took goes through the
 * master instead). One HTTP/2 session per peer carries its calls; a session
 * that closes, fails or receives GOAWAY is replaced on the next call.
 */
export function createUpstream(options: UpstreamOptions): ClosableUpstream {
  const maxMessage = options.maxMessageBytes ?? 16 * 1024 * 1024;
  const direct = options.direct;
  let active = 0;
  // One session per peer: the master's socket, and each unit address a grant sends calls to.
  const sessions = new Map<string, { session: http2.ClientHttp2Session; connected: boolean }>();
  const MASTER = "master";
  const sessionTo = (peer: string): { session: http2.ClientHttp2Session; connected: boolean } => {
    const existing = sessions.get(peer);
    if (existing && !existing.session.closed && !existing.session.destroyed) return existing;
    const target = peer === MASTER ? { kind: "unix" as const, path: options.socketPath } : parseAddress(peer);
    const s =
      target.kind === "unix"
        ? http2.connect("http://localhost", { createConnection: () => net.connect(target.path) })
        : http2.connect(`http://${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`);
    const entry = { session: s, connected: false };
    const drop = () => {
      if (sessions.get(peer) === entry) sessions.delete(peer);
    };
    s.once("connect", () => (entry.connected = true));
    // Errors reach the streams; this listener keeps a session error from crashing the gateway.
    s.on("error", drop);
    s.once("close", drop);
    s.once("goaway", drop);
    if (active === 0) s.unref();
    sessions.set(peer, entry);
    return entry;
  };
  const ref = (on: boolean) => {
    for (const { session } of sessions.values()) on ? session.ref() : session.unref();
  };

  type Outcome = { error?: CallError; headers: CallMetadata; trailers: CallMetadata; undelivered?: boolean };

  /** One gRPC exchange with a peer: the master (with the headers it authorizes by) or a unit's own socket (a grant). */
  function exchange(
    peer: string,
    unit: string,
    method: DescMethod,
    request: Uint8Array,
    ctx: CallContext,
    timeoutMs: number,
    onMessage: (m: Uint8Array) => void | Promise<void>,
  ): Promise<Outcome> {
    const viaMaster = peer === MASTER;
    return new Promise((resolve) => {
      let headers: CallMetadata = {};
      let trailers: CallMetadata = {};
      let settled = false;
      let failure: CallError | undefined;
      let stream: http2.ClientHttp2Stream | undefined;
      let entry: { session: http2.ClientHttp2Session; connected: boolean } | undefined;
      let responded = false;
      const finish = (error?: CallError, undelivered = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ctx.signal.removeEventListener("abort", onAbort);
        if (--active === 0) ref(false);
        if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
        resolve({ ...(error ? { error } : {}), headers, trailers, ...(undelivered ? { undelivered } : {}) });
      };
      const onAbort = () => finish({ code: GrpcCode.CANCELLED, message: `the call to unit "${unit}" was cancelled (the client went away or the gateway is stopping)` });
      // The gateway keeps the client's deadline itself (the unit is given DEADLINE_GRACE_MS more in grpc-timeout),
      // so a call past it ends as DEADLINE_EXCEEDED whatever the unit or the master do.
      const timer = setTimeout(
        () => finish({ code: GrpcCode.DEADLINE_EXCEEDED, message: `the call to unit "${unit}" did not finish within its deadline of ${ctx.timeoutMs} ms (the client's timeout, or gateway.limits.timeout)` }),
        timeoutMs,
      );
      if (ctx.signal.aborted) return onAbort();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      if (active++ === 0) ref(true);
      const out: http2.OutgoingHttpHeaders = {};
      const md = ctx.metadata;
      for (const k in md) if (forwardableMetadata(k)) out[k] = md[k];
      // Assigned after the metadata, so a client header can never replace one of these.
      out[":method"] = "POST";
      out[":path"] = pathOf(method);
      out["content-type"] = "application/grpc";
      out.te = "trailers";
      out["grpc-timeout"] = `${Math.max(1, Math.ceil(timeoutMs + DEADLINE_GRACE_MS))}m`;
      if (viaMaster) {
        out["hsu-unit"] = unit;
        out["hsu-caller"] = "gateway";
        out["hsu-caller-address"] = ctx.clientAddress;
        if (ctx.authorization !== undefined) out["hsu-caller-authorization"] = ctx.authorization;
        const attachment = direct?.attachment;
        if (attachment !== undefined) out["hsu-gateway-attachment"] = attachment;
      }
      try {
        // A new session is referenced; an existing one was referenced above when this call made `active` non-zero.
        entry = sessionTo(peer);
        entry.session.ref();
        stream = entry.session.request(out);
      } catch (e) {
        return finish(
          { code: GrpcCode.UNAVAILABLE, message: viaMaster ? `cannot reach the master at ${options.socketPath}: ${(e as Error).message}` : `cannot reach unit "${unit}": ${(e as Error).message}` },
          !viaMaster,
        );
      }
      const st = stream;
      const through = viaMaster ? " through the master" : "";
      st.on("response", (h) => {
        responded = true;
        headers = metadataOf(h);
        const status = Number(h[":status"]);
        if (status !== 200) failure = { code: status === 404 ? GrpcCode.UNIMPLEMENTED : GrpcCode.UNAVAILABLE, message: `${viaMaster ? "the master" : `unit "${unit}"`} answered HTTP ${status} for unit "${unit}"` };
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
      // A unit's socket that never connected, or a stream the unit refused (REFUSED_STREAM: it is going away),
      // never got the call: that much is safe to send again, through the master.
      const notDelivered = () => !viaMaster && !responded && (!entry!.connected || st.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM);
      st.on("error", (e) => finish({ code: GrpcCode.UNAVAILABLE, message: `the call to unit "${unit}"${through} failed: ${e.message}` }, notDelivered()));
      const drained = async () => {
        while (running) await running;
      };
      st.on("close", () => {
        void drained().then(() => {
          if (settled) return;
          const status = statusOf({ ...headers, ...trailers });
          if (status === null) {
            finish(failure ?? { code: GrpcCode.UNAVAILABLE, message: `the call to unit "${unit}" ended without a status (stream reset ${st.rstCode})` }, notDelivered());
          } else finish(status ?? undefined);
        });
      });
      st.end(grpcFrame(request));
    });
  }

  async function call(
    unit: string,
    method: DescMethod,
    request: Uint8Array,
    ctx: CallContext,
    onMessage: (m: Uint8Array) => void | Promise<void>,
  ): Promise<{ error?: CallError; headers: CallMetadata; trailers: CallMetadata }> {
    if (!direct) return exchange(MASTER, unit, method, request, ctx, ctx.timeoutMs, onMessage);
    const key = grantKey(ctx.authorization, unit, pathOf(method));
    const address = direct.route(key, unit);
    const started = Date.now();
    if (address !== undefined) {
      const end = direct.begin(unit);
      const r = await exchange(address, unit, method, request, ctx, ctx.timeoutMs, onMessage).finally(end);
      if (!r.undelivered) return r;
      direct.forget(unit);
    }
    const r = await exchange(MASTER, unit, method, request, ctx, Math.max(1, ctx.timeoutMs - (Date.now() - started)), onMessage);
    if (!r.error) direct.learn(key, unit, r.headers);
    return r;
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
      for (const { session } of sessions.values()) session.close();
      sessions.clear();
    },
  };
}
