import { Code, ConnectError } from "@connectrpc/connect";
import * as http2 from "node:http2";

/** Options for {@link createSessionCache}. */
export interface SessionCacheOptions {
  /** The authority sent in `:authority` (http://host:port). */
  authority: string;
  /** Opens the socket (Unix or TCP). */
  connect: () => import("node:stream").Duplex;
  /** Close the session after this long without streams. */
  idleTimeoutMs: number;
  /** Fail the session (and its calls, UNAVAILABLE) when it is not connected within this long. */
  connectTimeoutMs: number;
}

/** One cached HTTP/2 client session, reopened when it closes or goes away. */
export interface SessionCache {
  /** The live session, opened on first use or after the last one ended. */
  get(): http2.ClientHttp2Session;
  /** Counts a stream in (keeps the process alive while calls are in flight). */
  acquire(session: http2.ClientHttp2Session): void;
  /** Counts a stream out; an idle session lets the process exit. */
  release(session: http2.ClientHttp2Session): void;
  /** Closes the current session (streams in flight finish first). */
  close(): void;
}

interface Tracked {
  active: number;
}

/**
 * Keeps one ClientHttp2Session per transport, as grpc-js keeps one channel:
 * every call is a stream on it. A session that closes, errors or receives
 * GOAWAY is dropped from the cache at once so the next call opens a fresh
 * one, while its streams in flight end on their own. An idle session is
 * unref'd so it never holds the process open.
 */
export function createSessionCache(options: SessionCacheOptions): SessionCache {
  let current: http2.ClientHttp2Session | undefined;
  const state = new WeakMap<http2.ClientHttp2Session, Tracked>();
  const drop = (s: http2.ClientHttp2Session) => {
    if (current === s) current = undefined;
  };
  return {
    get() {
      if (current !== undefined && !current.closed && !current.destroyed) return current;
      const session = http2.connect(options.authority, { createConnection: options.connect });
      state.set(session, { active: 0 });
      // Errors reach the streams on the session; this listener only keeps
      // an unhandled session error from crashing the process.
      session.on("error", () => drop(session));
      session.once("close", () => drop(session));
      session.once("goaway", () => drop(session));
      session.setTimeout(options.idleTimeoutMs, () => {
        if (state.get(session)!.active === 0) session.close();
      });
      const connectTimer = setTimeout(() => {
        const err = new ConnectError(`could not connect to ${options.authority} within ${options.connectTimeoutMs} ms`, Code.Unavailable);
        session.destroy(err);
      }, options.connectTimeoutMs);
      connectTimer.unref();
      session.once("connect", () => clearTimeout(connectTimer));
      session.once("close", () => clearTimeout(connectTimer));
      session.unref();
      current = session;
      return session;
    },
    acquire(session) {
      const t = state.get(session)!;
      if (t.active++ === 0) session.ref();
    },
    release(session) {
      const t = state.get(session)!;
      if (--t.active === 0 && !session.destroyed) session.unref();
    },
    close() {
      current?.close();
      current = undefined;
    },
  };
}
