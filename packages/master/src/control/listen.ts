import type { ConnectRouter } from "@connectrpc/connect";
import { HsuError } from "@hsu/client";
import { listenH2c, watchTls, type ConnectionLimits, type ConnectionStats, type H2cListener, type TlsFiles, type TlsWatcher } from "@hsu/transport";
import { createGrpcHandler } from "@hsu/transport/server";
import { chmod, mkdir } from "node:fs/promises";
import type * as http2 from "node:http2";
import { dirname } from "node:path";
import { createAuthGate, type ControlAuthOptions, type UnitCallAdmission } from "./auth-gate.ts";
import { openFileLimit, tcpControlLimits, unixControlLimits } from "./fd-budget.ts";

/** Options for {@link listenControl}. */
export interface ControlListenOptions {
  /** The Unix socket path; its directory is created with mode 0700. */
  socketPath: string;
  /** Also listen on TCP (host:port); then `token`, `auth.tokens` or `auth.oidc` is required (a way for TCP callers to authenticate). */
  tcp?: string;
  /** The legacy control token (master.control.token_file): an admin principal of kind control-token. */
  token?: string;
  /** API tokens, an OIDC verifier, the audit log and the gateway's public services (see ControlAuthOptions). */
  auth?: ControlAuthOptions;
  routes: (router: ConnectRouter) => void;
  /** Requests no route matched (the unit proxy), once the auth gate admitted them; always HTTP/2 here. */
  fallback?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, admitted: UnitCallAdmission) => void;
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

/**
 * Serves the control API on a Unix socket with mode 0600 (only the master's
 * user can connect; the kernel checks it on connect), and on TCP only when
 * asked. Every call, on both and on both paths (the unary fast path and
 * connect-node), and every unit call through the proxy, goes through one
 * auth gate (auth-gate.ts): the Unix socket's owner is admin unless the call
 * carries `hsu-caller` (a gateway: then it is its caller's credential that
 * counts); on TCP the bearer token decides. Mutating and refused calls are
 * audited.
 */
export async function listenControl(options: ControlListenOptions): Promise<ControlListeners> {
  await mkdir(dirname(options.socketPath), { recursive: true, mode: 0o700 });
  const gate = createAuthGate({ ...options.auth, ...(options.token !== undefined ? { controlToken: options.token } : {}) });
  // Unary calls (StartUnit, ListUnits...) on the fast path; connect-node loads on the first stream
  // (`hsu logs -f`) or Connect-protocol call, and never for the unit proxy (its own node:http2 code).
  const fallback = options.fallback;
  const served = createGrpcHandler({
    routes: options.routes,
    interceptors: [gate.interceptor],
    ...(fallback
      ? { fallback: (req, res) => void gate.admitUnitCall(req, res).then((ok) => ok && fallback(req, res, ok), (e: unknown) => res.stream.destroy(e as Error)) }
      : {}),
  });
  const serve = (transport: "unix" | "tcp", trust?: (s: http2.Http2Session) => void) => ({
    handler: served.handler,
    streamFilter: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => (gate.mark(transport, stream, headers, trust), served.streamFilter(stream, headers)),
  });
  // Bind with a private umask so the socket is never reachable by others, not even briefly.
  const previous = process.umask(0o177);
  let unix: H2cListener;
  try {
    const local = serve("unix");
    unix = await listenH2c(`unix:${options.socketPath}`, local.handler, { limits: unixControlLimits, streamFilter: local.streamFilter });
  } finally {
    process.umask(previous);
  }
  await chmod(options.socketPath, 0o600);
  let tcp: H2cListener | undefined;
  let closeTls = () => {};
  if (options.tcp) {
    if (!options.token && !options.auth?.tokens && !options.auth?.oidc) {
      await unix.close();
      throw new HsuError("invalid_config", "TCP control needs a way to authenticate its callers: API tokens, an OIDC provider (master.auth.oidc) or a control token (master.control.token_file)", { field: "master.control.tcp" });
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
    // Until a connection has sent one authenticated request it is a stranger: capped, and cut after a few seconds.
    const remote = serve("tcp", (session) => tcpListener.trust(session));
    // A TCP address that cannot be bound (taken, not ours) must not leave the Unix socket behind, listening for nobody.
    const tcpListener: H2cListener = await listenH2c(options.tcp, remote.handler, {
      limits: options.tcpLimits ?? tcpControlLimits(openFileLimit()),
      streamFilter: remote.streamFilter,
      ...(tlsWatcher ? { tls: tlsWatcher } : {}),
    }).catch(async (e: unknown) => {
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
