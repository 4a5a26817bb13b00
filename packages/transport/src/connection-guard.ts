import type * as http2 from "node:http2";
import type * as net from "node:net";

/**
 * Limits on the connections of one listener, so a flood of idle or
 * unauthenticated connections can neither exhaust the process's file
 * descriptors nor lock out the peers that do authenticate.
 */
export interface ConnectionLimits {
  /** Most connections open at once; a new one past it is closed at once (before any HTTP/2 state is allocated). */
  maxConnections?: number;
  /** Most connections open at once from one peer address (TCP); past it, closed at once. */
  maxPerPeer?: number;
  /**
   * A connection not marked trusted ({@link H2cGuard.trust}, e.g. once it
   * sent a request with the right token) within this long is destroyed.
   */
  untrustedTimeoutMs?: number;
  /** An HTTP/2 session with no open stream for this long is closed (GOAWAY, then the socket). */
  idleTimeoutMs?: number;
}

/** What a guard has done so far (for logs and tests). */
export interface ConnectionStats {
  /** Connections open now. */
  open: number;
  accepted: number;
  /** Closed at once: over `maxConnections` or `maxPerPeer`. */
  refused: number;
  /** Destroyed because they were not trusted in time. */
  expired: number;
  /** Closed after `idleTimeoutMs` without a stream. */
  idled: number;
}

/** The handle a listener keeps on its guard. */
export interface H2cGuard {
  /** Marks the connection of this session trusted: its untrusted deadline no longer applies. */
  trust(session: http2.Http2Session): void;
  stats(): ConnectionStats;
}

interface Conn {
  deadline: NodeJS.Timeout | undefined;
  /** Once node:http2 made one: it owns the socket, so it is what gets destroyed. */
  session?: http2.Http2Session;
}

// IPv4 peers reached over a dual-stack socket show as ::ffff:a.b.c.d; one peer, one key.
const peerOf = (socket: net.Socket): string | undefined => socket.remoteAddress?.replace(/^::ffff:/, "");

/**
 * Puts `limits` on every connection `server` accepts. The caps are checked
 * before node:http2 sees the socket (its own "connection" listeners run only
 * for admitted sockets), so a refused connection costs one accept and one
 * close. Call after every other "connection" listener is registered.
 */
export function guardConnections(server: http2.Http2Server | http2.Http2SecureServer, limits: ConnectionLimits): H2cGuard {
  const inner = server.listeners("connection") as Array<(...args: unknown[]) => void>;
  server.removeAllListeners("connection");
  const perPeer = new Map<string, number>();
  const bySession = new WeakMap<http2.Http2Session, Conn>();
  const stats: ConnectionStats = { open: 0, accepted: 0, refused: 0, expired: 0, idled: 0 };
  let admitting: Conn | undefined;

  server.on("connection", function (this: http2.Http2Server | http2.Http2SecureServer, socket: net.Socket, ...rest: unknown[]) {
    const peer = peerOf(socket);
    const fromPeer = peer !== undefined ? (perPeer.get(peer) ?? 0) : 0;
    if (
      (limits.maxConnections !== undefined && stats.open >= limits.maxConnections) ||
      (limits.maxPerPeer !== undefined && peer !== undefined && fromPeer >= limits.maxPerPeer)
    ) {
      stats.refused++;
      socket.destroy();
      return;
    }
    stats.open++;
    stats.accepted++;
    if (peer !== undefined) perPeer.set(peer, fromPeer + 1);
    const conn: Conn = { deadline: undefined };
    if (limits.untrustedTimeoutMs !== undefined) {
      conn.deadline = setTimeout(() => {
        stats.expired++;
        if (conn.session) conn.session.destroy();
        else socket.destroy();
      }, limits.untrustedTimeoutMs).unref();
    }
    socket.once("close", () => {
      clearTimeout(conn.deadline);
      stats.open--;
      if (peer === undefined) return;
      const left = (perPeer.get(peer) ?? 1) - 1;
      if (left > 0) perPeer.set(peer, left);
      else perPeer.delete(peer);
    });
    // node:http2 creates the session synchronously inside its listener; "session" below picks `conn` up.
    admitting = conn;
    try {
      for (const listener of inner) listener.call(this, socket, ...rest);
    } finally {
      admitting = undefined;
    }
  });

  server.on("session", (session) => {
    if (admitting) {
      admitting.session = session;
      bySession.set(session, admitting);
    }
    const idleMs = limits.idleTimeoutMs;
    if (idleMs === undefined) return;
    let streams = 0;
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      idle = setTimeout(() => {
        stats.idled++;
        session.close();
      }, idleMs).unref();
    };
    arm();
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      streams++;
      clearTimeout(idle);
      stream.once("close", () => {
        if (--streams === 0 && !session.closed) arm();
      });
    });
    session.once("close", () => clearTimeout(idle));
  });

  return {
    trust(session) {
      const conn = bySession.get(session);
      if (!conn?.deadline) return;
      clearTimeout(conn.deadline);
      conn.deadline = undefined;
    },
    stats: () => ({ ...stats }),
  };
}
