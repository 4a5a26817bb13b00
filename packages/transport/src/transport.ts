import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import type { GrpcTransportOptions } from "@connectrpc/connect-node";
import * as net from "node:net";
import * as tls from "node:tls";
import { formatAddress, parseAddress, type UnitAddress } from "./address.ts";
import { createConnectDiagnosis, type ConnectDiagnosis, type ConnectFailureHints } from "./connect-failure.ts";
import { createFastUnaryTransport } from "./fast-transport.ts";
import { createSessionCache } from "./h2-session.ts";

/** Options for {@link createUnitTransport}. */
export interface UnitTransportOptions {
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** Extra interceptors, run after the token one. */
  interceptors?: Interceptor[];
  /** Largest message accepted, in bytes (default 4 MiB, as gRPC). */
  readMaxBytes?: number;
  /** Largest message sent, in bytes (default 4 MiB). */
  writeMaxBytes?: number;
  /** Close the HTTP/2 connection after this long without streams (default 15 min). */
  idleConnectionTimeoutMs?: number;
  /** Fail calls that cannot connect within this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Default deadline for calls that set none. */
  defaultTimeoutMs?: number;
  /**
   * Make unary calls straight on node:http2 (see fast-transport.ts) rather
   * than through connect-node's pipeline; streaming calls use connect-node
   * either way. Default true.
   */
  fastUnary?: boolean;
  /**
   * Open the (unary) HTTP/2 connection now rather than on the first call:
   * for a caller that knows a call is coming and has something else to do
   * meanwhile (a unit about to register, a master whose unit is starting).
   * A connection that fails is dropped and the first call opens another.
   */
  eagerConnect?: boolean;
  /**
   * Speak TLS (ALPN h2) to a TCP address: the CA to trust (default the
   * system's), and a client certificate for a server with client_auth.
   * The server name checked is the host (an IP is checked against the
   * certificate's IP subjectAltName) unless `servername` says otherwise.
   */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; servername?: string };
  /**
   * What to do about each kind of connection failure (an untrusted or
   * expired server certificate, a client certificate required, a TLS port
   * reached without TLS, ...), in the caller's terms: a CLI names its flags.
   * Such a failure is UNAVAILABLE, its message naming the address, the cause
   * and this hint; `connectFailureKind(error)` tells the kind.
   */
  connectFailureHints?: ConnectFailureHints;
}

const MiB = 1024 * 1024;

/**
 * A gRPC (HTTP/2) transport to an HSU address, Unix socket or TCP. Unary
 * calls share one HTTP/2 connection (the node:http2 fast path); streaming
 * calls share a second one, connect-node's.
 */
export function createUnitTransport(address: string | UnitAddress, options: UnitTransportOptions = {}): Transport {
  const parsed = typeof address === "string" ? parseAddress(address) : address;
  const interceptors: Interceptor[] = [];
  if (options.token !== undefined) interceptors.push(bearer(options.token));
  interceptors.push(...(options.interceptors ?? []));
  const common = {
    httpVersion: "2" as const,
    interceptors,
    readMaxBytes: options.readMaxBytes ?? 4 * MiB,
    writeMaxBytes: options.writeMaxBytes ?? 4 * MiB,
    idleConnectionTimeoutMs: options.idleConnectionTimeoutMs ?? 15 * 60_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    // No grpc-accept-encoding header on every call: units and masters share a
    // machine, where compressing costs more CPU than the bytes it saves.
    acceptCompression: [],
    ...(options.defaultTimeoutMs !== undefined ? { defaultTimeoutMs: options.defaultTimeoutMs } : {}),
  };
  let baseUrl: string;
  let connect: () => net.Socket;
  let diagnosis: ConnectDiagnosis | undefined;
  if (parsed.kind === "unix") {
    if (options.tls) throw new Error(`TLS needs a TCP address, got unix:${parsed.path}`);
    const path = parsed.path;
    baseUrl = "http://localhost";
    connect = () => net.connect(path);
  } else {
    const host = parsed.host.includes(":") ? `[${parsed.host}]` : parsed.host;
    const { host: tcpHost, port } = parsed;
    // Nagle off, as grpc-js does: a call is a few small frames, and waiting
    // to coalesce them only adds latency on loopback.
    const t = options.tls;
    const d = (diagnosis = createConnectDiagnosis(formatAddress(parsed), options.connectFailureHints));
    if (t) {
      baseUrl = `https://${host}:${port}`;
      // SNI carries host names only, never an IP literal (RFC 6066).
      const servername = t.servername ?? (net.isIP(tcpHost) ? undefined : tcpHost);
      connect = () =>
        d.watch(
          tls
            .connect({ host: tcpHost, port, ALPNProtocols: ["h2"], ...(servername ? { servername } : {}), ...(t.ca ? { ca: t.ca } : {}), ...(t.cert ? { cert: t.cert } : {}), ...(t.key ? { key: t.key } : {}) })
            .setNoDelay(true),
          t.cert ? "tls-with-cert" : "tls",
        );
    } else {
      baseUrl = `http://${host}:${port}`;
      connect = () => d.watch(net.connect({ host: tcpHost, port, noDelay: true }), "plain");
    }
  }
  const explain = diagnosis ? (e: unknown) => diagnosis.explain(e) : () => undefined;
  const streams = malformedRepliesAsInternal(lazyGrpcTransport({ ...common, baseUrl, nodeOptions: { createConnection: connect } }), explain);
  if (options.fastUnary === false) return streams;
  const sessions = createSessionCache({ authority: baseUrl, connect, idleTimeoutMs: common.idleConnectionTimeoutMs, connectTimeoutMs: common.connectTimeoutMs });
  if (options.eagerConnect) sessions.get();
  return createFastUnaryTransport({
    sessions,
    baseUrl,
    ...(options.token !== undefined ? { token: options.token } : {}),
    interceptors: options.interceptors ?? [],
    readMaxBytes: common.readMaxBytes,
    writeMaxBytes: common.writeMaxBytes,
    ...(options.defaultTimeoutMs !== undefined ? { defaultTimeoutMs: options.defaultTimeoutMs } : {}),
    streams,
    explain,
  });
}

/**
 * connect-node's gRPC transport, loaded on the first call it carries.
 * connect-node's module graph (node:http, node:https, zlib, and through
 * them undici) is a large part of a process's start; a unit whose only
 * client call is the unary handshake never loads it.
 */
function lazyGrpcTransport(options: GrpcTransportOptions): Transport {
  let transport: Promise<Transport> | undefined;
  const get = () => (transport ??= import("@connectrpc/connect-node").then((m) => m.createGrpcTransport(options)));
  return {
    unary: async (...args) => (await get()).unary(...args),
    stream: async (...args) => (await get()).stream(...args),
  };
}

/**
 * connect-node reports a reply cut short (inside a message or its prefix) as
 * INVALID_ARGUMENT, as if the caller had sent something wrong; gRPC's
 * implementations and the conformance suite call a malformed reply INTERNAL,
 * as the fast path does. A status the server sent (a wire error) is kept.
 * A connection that failed (a TLS handshake refused, INTERNAL in
 * connect-node) is the UNAVAILABLE error `explain` makes of it.
 */
function malformedRepliesAsInternal(transport: Transport, explain: (e: unknown) => ConnectError | undefined): Transport {
  const rethrow = (e: unknown): never => {
    throw explain(e) ?? rethrowAsInternal(e);
  };
  return {
    unary: (...args) => transport.unary(...args).catch(rethrow),
    async stream(...args) {
      const res = await transport.stream(...args).catch(rethrow);
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
          } catch (e) {
            rethrow(e);
          }
        })(),
      } as typeof res;
    },
  };
}

function rethrowAsInternal(e: unknown): never {
  if (e instanceof ConnectError && e.code === Code.InvalidArgument && !e.isWireError) {
    const internal = new ConnectError(e.rawMessage, Code.Internal, e.metadata, undefined, e);
    internal.details = e.details;
    throw internal;
  }
  throw e;
}

/** An interceptor that sends `authorization: Bearer <token>`. */
export function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}
