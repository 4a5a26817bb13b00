import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { HsuError } from "@hsu/client";
import { checkBearer, listenH2c, watchTls, type ConnectionLimits, type ConnectionStats, type H2cListener, type TlsFiles, type TlsWatcher } from "@hsu/transport";
import { createGrpcHandler } from "@hsu/transport/server";
import { chmod, mkdir } from "node:fs/promises";
import type * as http2 from "node:http2";
import { dirname } from "node:path";
import { openFileLimit, tcpControlLimits, unixControlLimits } from "./fd-budget.ts";

/** Options for {@link listenControl}. */
export interface ControlListenOptions {
  /** The Unix socket path; its directory is created with mode 0700. */
  socketPath: string;
  /** Also listen on TCP (host:port); then `token` is required. */
  tcp?: string;
  /** The bearer token every TCP call must carry. */
  token?: string;
  routes: (router: ConnectRouter) => void;
  /** Requests no route matched (the unit proxy); always HTTP/2 here. */
  fallback?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
  /** Connection caps and deadlines of the TCP port (default: sized from the fd limit, see tcpControlLimits). */
  tcpLimits?: ConnectionLimits;
  /** Serve the TCP port over TLS with these files, reloaded when they change (`master.control.tls`). */
  tls?: TlsFiles;
  /** Where a TLS reload (a new certificate, or a broken one refused) is reported. */
  log?: (line: string) => void;
}

/** The master's control endpoints. */
export interface ControlListeners {
  readonly socketPath: string;
  readonly tcpAddress: string | undefined;
  /** What the TCP port's connection limits did so far (undefined without TCP). */
  tcpStats(): ConnectionStats | undefined;
  close(): Promise<void>;
}

/** Refuses calls without the right bearer token (TCP only). */
function requireToken(token: string): Interceptor {
  return (next) => (req) => {
    const check = checkBearer(req.header.get("authorization"), token);
    if (check === "missing") throw new ConnectError("the control API over TCP needs `authorization: Bearer <token>`", Code.Unauthenticated);
    if (check === "wrong") throw new ConnectError("the control token does not match", Code.PermissionDenied);
    return next(req);
  };
}

/**
 * Serves the control API on a Unix socket with mode 0600 (only the master's
 * user can connect; the kernel checks it on connect), and on TCP only when
 * asked, where every call must carry the token.
 */
export async function listenControl(options: ControlListenOptions): Promise<ControlListeners> {
  await mkdir(dirname(options.socketPath), { recursive: true, mode: 0o700 });
  // Unary calls (StartUnit, ListUnits...) on the fast path; connect-node loads on the first stream
  // (`hsu logs -f`) or Connect-protocol call, and never for the unit proxy (its own node:http2 code).
  const serve = (interceptors: Interceptor[]) =>
    createGrpcHandler({
      routes: options.routes,
      interceptors,
      ...(options.fallback ? { fallback: options.fallback } : {}),
    });
  // Bind with a private umask so the socket is never reachable by others, not even briefly.
  const previous = process.umask(0o177);
  let unix: H2cListener;
  try {
    const local = serve([]);
    unix = await listenH2c(`unix:${options.socketPath}`, local.handler, { limits: unixControlLimits, streamFilter: local.streamFilter });
  } finally {
    process.umask(previous);
  }
  await chmod(options.socketPath, 0o600);
  let tcp: H2cListener | undefined;
  let closeTls = () => {};
  if (options.tcp) {
    if (!options.token) {
      await unix.close();
      throw new HsuError("invalid_config", "TCP control needs a token (master.control.token_file)", { field: "master.control.tcp" });
    }
    let tlsWatcher: TlsWatcher | undefined;
    if (options.tls) {
      const log = options.log;
      try {
        tlsWatcher = watchTls(options.tls, {
          onReload: (e) =>
            log?.(e.ok ? `control TLS: now serving ${e.loaded.files.certFile} (sha256 ${e.loaded.certificate.fingerprint256}, valid to ${e.loaded.certificate.validTo})` : `control TLS: kept the previous certificate: ${e.error.message}`),
        });
      } catch (e) {
        await unix.close();
        throw new HsuError("invalid_config", (e as Error).message, { field: "master.control.tls" }, { cause: e });
      }
    }
    closeTls = () => tlsWatcher?.close();
    const remote = serve([requireToken(options.token)]);
    const token = options.token;
    // The unit proxy over TCP needs the token too.
    // Until a connection has sent one request with the token it is a stranger: capped, and cut after a few seconds.
    // Both paths (fast unary and the rest) trust a connection the same way, on its first request with the token.
    const authorized = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      const ok = checkBearer(headers.authorization, token) === "ok";
      if (ok && stream.session) tcpListener.trust(stream.session);
      return ok;
    };
    // A TCP address that cannot be bound (taken, not ours) must not leave the Unix socket behind, listening for nobody.
    const tcpListener: H2cListener = await listenH2c(
      options.tcp,
      (req, res) => {
        if (!authorized(req.stream, req.headers) && req.headers["hsu-unit"]) {
          res.writeHead(200, { "content-type": "application/grpc", "grpc-status": String(Code.Unauthenticated), "grpc-message": "missing or wrong token" });
          res.end();
          return;
        }
        remote.handler(req, res);
      },
      {
        limits: options.tcpLimits ?? tcpControlLimits(openFileLimit()),
        // Without the token, a unary call still takes the fast path: its interceptor refuses it there.
        streamFilter: (stream, headers) => (authorized(stream, headers), remote.streamFilter(stream, headers)),
        ...(tlsWatcher ? { tls: tlsWatcher } : {}),
      },
    ).catch(async (e: unknown) => {
      tlsWatcher?.close();
      await unix.close();
      throw e;
    });
    tcp = tcpListener;
  }
  return {
    socketPath: options.socketPath,
    tcpAddress: tcp?.address,
    tcpStats: () => tcp?.connectionStats(),
    async close() {
      await Promise.all([unix.close(), tcp?.close()]);
      closeTls();
    },
  };
}
