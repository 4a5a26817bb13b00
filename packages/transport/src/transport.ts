import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as net from "node:net";
import { parseAddress, type UnitAddress } from "./address.ts";

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
}

const MiB = 1024 * 1024;

/**
 * A gRPC (HTTP/2) transport to an HSU address, Unix socket or TCP. One
 * transport keeps one HTTP/2 connection and multiplexes every call over it.
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
    ...(options.defaultTimeoutMs !== undefined ? { defaultTimeoutMs: options.defaultTimeoutMs } : {}),
  };
  if (parsed.kind === "unix") {
    const path = parsed.path;
    return createGrpcTransport({
      ...common,
      baseUrl: "http://localhost",
      nodeOptions: { createConnection: () => net.connect(path) },
    });
  }
  const host = parsed.host.includes(":") ? `[${parsed.host}]` : parsed.host;
  return createGrpcTransport({ ...common, baseUrl: `http://${host}:${parsed.port}` });
}

/** An interceptor that sends `authorization: Bearer <token>`. */
export function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}
