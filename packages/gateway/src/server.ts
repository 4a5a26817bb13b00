import type { Registry } from "@bufbuild/protobuf";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { TlsWatcher } from "@hsu/transport";
import { readBody } from "./body.ts";
import type { GatewayConfig } from "./config.ts";
import { corsDecision } from "./cors.ts";
import type { CallContext, GatewayRequest, GatewayResponse, Protocol, ProtocolContext, RoutedService, Upstream } from "./protocol.ts";
import { createRateLimiter } from "./rate-limit.ts";
import { forwardableMetadata } from "./upstream.ts";
import { sendJson, writeHead } from "./respond.ts";

/** Options of {@link createGatewayServer}. */
export interface GatewayServerOptions {
  readonly config: GatewayConfig;
  /** Tried in order for each request; the first that answers wins (Connect, gRPC-Web, REST). */
  readonly protocols: readonly Protocol[];
  readonly upstream: Upstream;
  readonly registry: Registry;
  readonly services: readonly RoutedService[];
  /**
   * The certificates of `config.tls`, kept current by @hsu/transport's `watchTls`
   * (required when it is set): a renewed pair is served on new connections, a
   * broken one never replaces the pair in use.
   */
  readonly tls?: TlsWatcher;
  /** The clock of the rate limiter (ms). */
  readonly now?: () => number;
}

/** A listening gateway. */
export interface GatewayServer {
  /** Starts listening on config.listen; resolves with the base URL. */
  listen(): Promise<string>;
  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then cuts what is left. */
  close(graceMs: number): Promise<void>;
  /** Requests being answered. */
  readonly inFlight: number;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

// Request headers that are about the HTTP exchange with the gateway, not metadata for the unit.
const NOT_METADATA = /^(accept(-.*)?|origin|referer|sec-.*|connect-.*|x-grpc-web|x-user-agent|access-control-.*|content-.*|if-.*|cache-control|pragma|priority|dnt|upgrade-insecure-requests|forwarded|x-forwarded-.*|x-real-ip)$/;

/**
 * Why a request path is refused before any protocol sees it: dot segments,
 * doubled slashes, backslashes, NUL, and percent-encoded dots, slashes or
 * backslashes - so no path that a proxy, a router or a unit could read as
 * another one ever passes.
 */
export function unsafePath(url: string): string | undefined {
  if (!url.startsWith("/")) return "the request target must be a path starting with /";
  const path = url.split("?")[0]!;
  if (/[\\\0]/.test(path)) return "the path holds a backslash or a NUL byte";
  if (path.includes("//")) return "the path holds an empty segment (//)";
  if (/%(2e|2f|5c|00)/i.test(path)) return "the path holds a percent-encoded '.', '/', '\\' or NUL";
  if (path.split("/").some((s) => s === "." || s === "..")) return "the path holds a '.' or '..' segment";
  return undefined;
}

/** The client's deadline from connect-timeout-ms or grpc-timeout, if it sent one. */
function clientTimeoutMs(h: http.IncomingHttpHeaders): number | undefined {
  const c = h["connect-timeout-ms"];
  if (typeof c === "string" && /^\d{1,10}$/.test(c)) return Number(c);
  const g = h["grpc-timeout"];
  const m = typeof g === "string" ? /^(\d{1,8})([HMSmun])$/.exec(g) : null;
  if (!m) return undefined;
  const unit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }[m[2] as "H"]!;
  return Math.max(1, Math.floor(Number(m[1]) * unit));
}

/** The client's address (for rate limits and the audit log). */
export function clientAddress(req: GatewayRequest): string {
  return req.socket?.remoteAddress ?? "unknown";
}

/**
 * The gateway's one listener: HTTP/1.1 and HTTP/2 on one port - plaintext
 * (h2c by its connection preface, HTTP/1.1 otherwise) or TLS (ALPN h2 and
 * http/1.1). In front of the protocols it answers /healthz, CORS, the
 * per-client rate limit and unsafe paths; it bounds headers, bodies and the
 * whole request in time and size, and aborts a call whose client went away.
 */
export function createGatewayServer(o: GatewayServerOptions): GatewayServer {
  const { config } = o;
  const limits = config.limits;
  const limiter = limits.rate ? createRateLimiter({ ...limits.rate, ...(o.now ? { now: o.now } : {}) }) : undefined;
  let inFlight = 0;
  let idle: (() => void) | undefined;

  const callContext = (req: GatewayRequest, signal: AbortSignal): CallContext => {
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || !forwardableMetadata(k) || NOT_METADATA.test(k)) continue;
      metadata[k] = Array.isArray(v) ? v.join(", ") : String(v);
    }
    const auth = req.headers.authorization;
    const wanted = clientTimeoutMs(req.headers);
    return {
      metadata,
      ...(typeof auth === "string" ? { authorization: auth } : {}),
      clientAddress: clientAddress(req),
      signal,
      timeoutMs: wanted === undefined ? limits.timeoutMs : Math.min(wanted, limits.timeoutMs),
    };
  };
  const base = { upstream: o.upstream, registry: o.registry, services: o.services, callContext, maxBodyBytes: limits.maxBodyBytes };

  const onRequest = async (req: GatewayRequest, res: GatewayResponse): Promise<void> => {
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    if (url === "/healthz" && (method === "GET" || method === "HEAD")) {
      writeHead(res, 200, { "content-type": "text/plain" });
      return void res.end(method === "HEAD" ? "" : "ok\n");
    }
    // CORS headers first, so a browser can read even a 429; preflights count against the rate like any request.
    const cors = corsDecision(config.cors, method, req.headers);
    for (const [k, v] of Object.entries(cors.headers)) res.setHeader(k, v);
    if (limiter) {
      const v = limiter.take(clientAddress(req));
      if (!v.ok) {
        const secs = Math.max(1, Math.ceil(v.retryAfterMs / 1000));
        return sendJson(res, 429, { code: "resource_exhausted", message: `rate limit: at most ${limits.rate!.requests} requests per ${limits.rate!.perMs} ms from ${clientAddress(req)}; retry after ${secs} s` }, { "retry-after": String(secs) });
      }
    }
    if (cors.preflight === "allowed") return void (writeHead(res, 204), res.end());
    if (cors.preflight === "denied") return sendJson(res, 403, { code: "permission_denied", message: `CORS preflight refused: ${cors.reason}` });
    const unsafe = unsafePath(url);
    if (unsafe) return sendJson(res, 400, { code: "invalid_argument", message: `refused path: ${unsafe}` });
    inFlight++;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error("request timeout")), limits.timeoutMs);
    res.once("close", () => {
      if (!res.writableFinished) ac.abort(new Error("client gone"));
    });
    ac.signal.addEventListener("abort", () => {
      if (ac.signal.reason instanceof Error && ac.signal.reason.message === "request timeout" && !res.writableEnded) {
        if (!res.headersSent) sendJson(res, 504, { code: "deadline_exceeded", message: `the request did not complete within ${limits.timeoutMs} ms (gateway.limits.timeout)` }, { connection: "close" });
        else res.destroy();
      }
    });
    const ctx: ProtocolContext = { ...base, signal: ac.signal, readBody: (r) => readBody(r, limits.maxBodyBytes, ac.signal) };
    try {
      let handled = false;
      for (const p of o.protocols) if ((handled = await p.handle(req, res, ctx))) break;
      if (!handled) sendJson(res, 404, { code: "not_found", message: `no route for ${method} ${url.split("?")[0]}` });
    } catch (e) {
      const err = e as { httpStatus?: number; code?: number; message?: string };
      // A body past the limit: answer, then stop reading it (the connection is closed, not drained).
      if (err.httpStatus === 413 || err.httpStatus === 408) {
        sendJson(res, err.httpStatus, { code: err.httpStatus === 413 ? "resource_exhausted" : "deadline_exceeded", message: err.message }, { connection: "close" });
      } else sendJson(res, 500, { code: "internal", message: `gateway error: ${(e as Error).message}` });
    } finally {
      clearTimeout(timer);
      if (--inFlight === 0) idle?.();
    }
  };
  // A failure outside the protocols' own handling answers 500 (or cuts the response), never takes the gateway down.
  const handler = (req: GatewayRequest, res: GatewayResponse) =>
    void onRequest(req, res).catch((e: unknown) => {
      try {
        sendJson(res, 500, { code: "internal", message: `gateway error: ${(e as Error).message}` });
      } catch {
        res.destroy();
      }
    });

  const sessions = new Set<http2.ServerHttp2Session>();
  const track = (s: http2.Http2Server | http2.Http2SecureServer) =>
    s.on("session", (session: http2.ServerHttp2Session) => {
      sessions.add(session);
      session.once("close", () => sessions.delete(session));
      session.on("error", () => {});
    });
  let h1: http.Server | undefined;
  let outer: net.Server;
  let unsubscribeTls = () => {};
  if (config.tls) {
    if (!o.tls) throw new Error("config.tls is set but no certificates were given (watchTls from @hsu/transport)");
    const s = http2.createSecureServer({ ...o.tls.serverOptions(), allowHTTP1: true }, handler as never);
    // Only a pair the watcher loaded and checked arrives here; new connections get it, open ones keep theirs.
    unsubscribeTls = o.tls.onReload((event) => {
      if (event.ok) s.setSecureContext(event.loaded.secureOptions);
    });
    s.setTimeout(Math.max(limits.timeoutMs, limits.headerTimeoutMs) * 2);
    s.on("secureConnection", (sock) => sock.on("error", () => {}));
    track(s);
    outer = s;
  } else {
    h1 = http.createServer(
      { headersTimeout: limits.headerTimeoutMs, requestTimeout: limits.timeoutMs, connectionsCheckingInterval: Math.min(1000, limits.headerTimeoutMs), keepAliveTimeout: 5000 },
      handler as never,
    );
    // http.Server checks header and request timeouts (and tracks connections for closeAllConnections)
    // from its 'listening' event; this one never listens itself - sockets are handed to it - so start that here.
    h1.emit("listening");
    const h2 = http2.createServer({}, handler as never);
    h2.setTimeout(Math.max(limits.timeoutMs, limits.headerTimeoutMs) * 2);
    track(h2);
    const h1s = h1;
    outer = net.createServer((socket) => {
      socket.on("error", () => {});
      // The first bytes must come within the header timeout: a silent connection is cut.
      socket.setTimeout(limits.headerTimeoutMs, () => socket.destroy());
      let seen: Buffer = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        seen = seen.length ? Buffer.concat([seen, chunk]) : chunk;
        const n = Math.min(seen.length, H2_PREFACE.length);
        const maybeH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
        if (maybeH2 && seen.length < H2_PREFACE.length) return;
        socket.off("data", onData);
        socket.pause();
        socket.setTimeout(0);
        socket.unshift(seen);
        (maybeH2 ? h2 : h1s).emit("connection", socket);
        process.nextTick(() => socket.resume());
      };
      socket.on("data", onData);
    });
  }

  return {
    get inFlight() {
      return inFlight;
    },
    listen() {
      const cut = config.listen.lastIndexOf(":");
      const host = config.listen.slice(0, cut).replace(/^\[|\]$/g, "");
      const port = Number(config.listen.slice(cut + 1));
      return new Promise((resolve, reject) => {
        outer.once("error", reject);
        outer.listen(port, host, () => {
          outer.off("error", reject);
          const a = outer.address() as net.AddressInfo;
          const h = a.family === "IPv6" ? `[${a.address}]` : a.address;
          resolve(`${config.tls ? "https" : "http"}://${h}:${a.port}`);
        });
      });
    },
    async close(graceMs) {
      unsubscribeTls();
      const closed = new Promise<void>((r) => outer.close(() => r()));
      h1?.closeIdleConnections();
      for (const s of sessions) s.close();
      if (inFlight > 0) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, graceMs);
          idle = () => (clearTimeout(t), r());
        });
      }
      h1?.closeAllConnections();
      // Stops the timeout checks started at creation (it was never listening: the error is expected).
      h1?.close(() => {});
      for (const s of sessions) s.destroy();
      await closed;
    },
  };
}
