import { lstat, unlink } from "node:fs/promises";
import * as http2 from "node:http2";
import type * as net from "node:net";
import type { AddressInfo } from "node:net";
import { formatAddress, parseAddress, type UnitAddress } from "./address.ts";
import { guardConnections, type ConnectionLimits, type ConnectionStats } from "./connection-guard.ts";
import type { TlsWatcher } from "./tls.ts";

/** A running HTTP/2 listener: h2c (cleartext), or TLS with ALPN h2 when {@link ListenH2cOptions.tls} was given. */
export interface H2cListener {
  /** The bound address, with the real port when port 0 was asked for. */
  readonly address: string;
  readonly parsed: UnitAddress;
  readonly server: http2.Http2Server | http2.Http2SecureServer;
  /** Number of open HTTP/2 sessions (connections). */
  sessionCount(): number;
  /** Marks a session's connection trusted: the `untrustedTimeoutMs` deadline of {@link ListenH2cOptions.limits} stops applying. */
  trust(session: http2.Http2Session): void;
  /** Connections accepted, refused, expired and idled so far. */
  connectionStats(): ConnectionStats;
  /**
   * Stops accepting connections and sends GOAWAY on every open session so
   * peers finish their streams and go; with `force`, destroys the sessions.
   * Resolves when the server is closed and the socket file removed.
   */
  close(options?: { force?: boolean }): Promise<void>;
}

/** Options for {@link listenH2c}. */
export interface ListenH2cOptions {
  /** HTTP/2 settings and server options passed to node:http2. */
  serverOptions?: http2.ServerOptions;
  /**
   * Sees every new stream before the request handler: returns true when it
   * answered the stream itself (a fast path), false to pass it on.
   */
  streamFilter?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;
  /** Caps and deadlines on connections (none by default). */
  limits?: ConnectionLimits;
  /**
   * Serve on this inherited listening socket instead of binding `address`
   * (socket activation: the master bound it, `address` says where). The
   * socket file belongs to whoever bound it: it is neither replaced nor
   * removed here.
   */
  fd?: number;
  /**
   * Serve TLS (ALPN h2 only) with this pair (TCP only). Each reload the
   * watcher accepts is applied to the server (setSecureContext), so new
   * connections get the new certificate while open ones keep theirs. The
   * watcher stays the caller's: close it after the listener.
   */
  tls?: TlsWatcher;
}

/**
 * Binds an h2c server on an HSU address. A stale Unix socket at the path is
 * removed first (a previous run that was killed leaves one behind), and again
 * on close; anything else at the path (a file, a directory, a symlink) is never
 * deleted: binding fails with EEXIST.
 */
export async function listenH2c(
  address: string | UnitAddress,
  handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  options: ListenH2cOptions = {},
): Promise<H2cListener> {
  const parsed = typeof address === "string" ? parseAddress(address) : address;
  if (options.tls && parsed.kind !== "tcp") throw new Error(`TLS needs a TCP address, got ${formatAddress(parsed)}`);
  const tlsWatcher = options.tls;
  const server = tlsWatcher
    ? http2.createSecureServer({ ...options.serverOptions, ...tlsWatcher.serverOptions(), ALPNProtocols: ["h2"], allowHTTP1: false }, handler)
    : http2.createServer({ ...options.serverOptions }, handler);
  // Only a pair the watcher loaded and checked arrives here; a refused one never replaces the context.
  const unsubscribe = tlsWatcher?.onReload((event) => {
    if (event.ok) (server as http2.Http2SecureServer).setSecureContext(event.loaded.secureOptions);
  });
  const filter = options.streamFilter;
  // node:http2 turns each stream into a compat request/response with its own
  // "stream" listener; ours runs first, so a stream the filter answers never
  // becomes a request.
  const compat = server.listeners("stream") as Array<(...args: unknown[]) => void>;
  server.removeAllListeners("stream");
  server.on("stream", function (this: http2.Http2Server | http2.Http2SecureServer, stream, headers, ...rest: unknown[]) {
    // Some clients (grpcio over a Unix socket) send the socket path as :authority;
    // request URLs are built from it, so it must parse as a host.
    const authority = headers[":authority"];
    if (authority !== undefined && !URL.canParse(`http://${authority}`)) headers[":authority"] = "localhost";
    if (filter?.(stream, headers)) return;
    for (const listener of compat) listener.call(this, stream, headers, ...rest);
  });
  // Nagle off on accepted TCP connections (a no-op on Unix sockets): replies
  // are small frames that should leave at once.
  server.on("connection", (socket: net.Socket) => {
    if (parsed.kind === "tcp") socket.setNoDelay(true);
  });
  // Last of the "connection" listeners: it decides whether the others see the socket at all.
  const guard = guardConnections(server, options.limits ?? {});
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  const fd = options.fd;
  if (fd === undefined && parsed.kind === "unix" && (await unlinkSocket(parsed.path)) === "not a socket") {
    throw Object.assign(new Error(`${parsed.path} exists and is not a socket; refusing to replace it`), { code: "EEXIST", path: parsed.path });
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      unsubscribe?.();
      reject(fd === undefined ? e : Object.assign(new Error(`fd ${fd} (socket activation) is not a listening socket: ${e.message}`), { code: e.code, cause: e }));
    };
    server.once("error", onError);
    const done = () => {
      server.off("error", onError);
      resolve();
    };
    if (fd !== undefined) server.listen({ fd }, done);
    else if (parsed.kind === "unix") server.listen(parsed.path, done);
    else server.listen(parsed.port, parsed.host, done);
  });
  const bound: UnitAddress =
    parsed.kind === "unix" ? parsed : { kind: "tcp", host: parsed.host, port: (server.address() as AddressInfo | null)?.port ?? parsed.port };
  let closing: Promise<void> | undefined;
  return {
    address: formatAddress(bound),
    parsed: bound,
    server,
    sessionCount: () => sessions.size,
    trust: (session) => guard.trust(session),
    connectionStats: () => guard.stats(),
    close({ force = false } = {}) {
      for (const s of sessions) {
        if (force) s.destroy();
        else s.close();
      }
      unsubscribe?.();
      closing ??= new Promise<void>((resolve) => server.close(() => resolve())).then(async () => {
        if (bound.kind === "unix" && fd === undefined) await unlinkSocket(bound.path);
      });
      return closing;
    },
  };
}

/** Removes the Unix socket at `path`, and only a socket: lstat, so a symlink is never followed. */
async function unlinkSocket(path: string): Promise<"removed" | "absent" | "not a socket"> {
  try {
    if (!(await lstat(path)).isSocket()) return "not a socket";
    await unlink(path);
    return "removed";
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "absent";
    throw e;
  }
}
