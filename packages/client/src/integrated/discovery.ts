import type { DescService } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { CoreService, Health, HealthCheckResponse_ServingStatus as Status, type UnitInfo } from "@hsu/proto";
import { AddressError, bearer, parseAddress, type UnitAddress } from "@hsu/transport";
import { lstat, readdir } from "node:fs/promises";
import * as net from "node:net";
import { join } from "node:path";
import { HsuError } from "../errors.ts";

/** Options for {@link discoverUnit}. */
export interface DiscoverUnitOptions {
  /** Where the unit listens: `host:port`, `tcp://host:port` or `unix:/path.sock`. */
  address: string;
  /** The unit's HSU_TOKEN; only used to stop it, and only with `manage: true`. */
  token?: string;
  /** Discovered units are never started by the master. */
  startIfMissing?: false;
  /** Allow `stop()` (Core Shutdown with `token`). Default false: the unit belongs to someone else. */
  manage?: boolean;
  /** Time allowed for the connect, health Check and GetInfo, each. Default 2000 ms. */
  timeoutMs?: number;
}

/** A unit the master found running but did not start. */
export interface DiscoveredUnit {
  readonly address: string;
  /** What the unit's GetInfo answered. */
  readonly info: UnitInfo;
  /** Full names of every service it serves. */
  readonly services: readonly string[];
  /** Whether the master may stop it. */
  readonly managed: boolean;
  readonly transport: Transport;
  readonly core: Client<typeof CoreService>;
  readonly health: Client<typeof Health>;
  /** A typed client for one of its domain services. */
  client<S extends DescService>(service: S): Client<S>;
  /** True while health Check on "" answers SERVING. */
  serving(): Promise<boolean>;
  /** Core Shutdown with the token; `permission_denied` unless discovered with `manage: true` and a token. */
  stop(deadlineMs?: number): Promise<void>;
  /** Closes the master's connection to the unit; the unit keeps running. */
  close(): void;
}

/** Why an address holds no usable unit. */
export type DiscoveryFailure = "unreachable" | "not_a_unit" | "not_serving";

/** The outcome for one address of {@link discoverUnits}. */
export type DiscoveryResult =
  | { readonly address: string; readonly found: true; readonly unit: DiscoveredUnit }
  | { readonly address: string; readonly found: false; readonly reason: DiscoveryFailure; readonly error: HsuError };

/**
 * Finds a running unit by address: checks that something listens, that it
 * answers grpc.health.v1 Check("") with SERVING, and describes it with Core
 * GetInfo. Throws HsuError `unavailable` (nothing there, or not serving) or
 * `failed_precondition` (something listens but it is not an HSU unit).
 */
export async function discoverUnit(options: DiscoverUnitOptions): Promise<DiscoveredUnit> {
  const result = await probe(options);
  if (!result.found) throw result.error;
  return result.unit;
}

/** Probes several addresses at once; never throws for one bad address. */
export async function discoverUnits(
  addresses: readonly string[],
  options: Omit<DiscoverUnitOptions, "address"> = {},
): Promise<DiscoveryResult[]> {
  return Promise.all(addresses.map((address) => probe({ ...options, address })));
}

/** Probes every `*.sock` in `dir` (a directory where units put their Unix sockets). */
export async function scanSocketDir(dir: string, options: Omit<DiscoverUnitOptions, "address"> = {}): Promise<DiscoveryResult[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".sock")).sort();
  } catch (e) {
    throw new HsuError("not_found", `cannot scan ${dir} for unit sockets: ${(e as Error).message}`, {}, { cause: e });
  }
  return discoverUnits(
    names.map((n) => `unix:${join(dir, n)}`),
    options,
  );
}

async function probe(options: DiscoverUnitOptions): Promise<DiscoveryResult> {
  const { address } = options;
  const timeoutMs = options.timeoutMs ?? 2000;
  const fail = (reason: DiscoveryFailure, message: string, cause?: unknown): DiscoveryResult => ({
    address,
    found: false,
    reason,
    error: new HsuError(reason === "not_a_unit" ? "failed_precondition" : "unavailable", `${address}: ${message}`, {}, { cause }),
  });
  let parsed: UnitAddress;
  try {
    parsed = parseAddress(address);
  } catch (e) {
    if (e instanceof AddressError) {
      return { address, found: false, reason: "unreachable", error: new HsuError("invalid_argument", e.message, {}, { cause: e }) };
    }
    throw e;
  }
  if (parsed.kind === "unix") {
    const st = await lstat(parsed.path).catch(() => undefined);
    if (st && !st.isSocket()) return fail("not_a_unit", "the path exists but is not a socket");
  }
  const reach = await tryConnect(parsed, timeoutMs);
  if (reach) return fail("unreachable", `nothing accepts connections there (${reach}); is the unit running?`);

  const conn = await openConnection(parsed, options.token, timeoutMs);
  const health = createClient(Health, conn.transport);
  const core = createClient(CoreService, conn.transport);
  const notUnit = (reason: DiscoveryFailure, message: string, cause?: unknown) => {
    // Nothing will use this connection again.
    conn.close();
    return fail(reason, message, cause);
  };
  let status: Status;
  try {
    status = (await health.check({ service: "" }, { timeoutMs })).status;
  } catch (e) {
    const err = ConnectError.from(e);
    const why =
      err.code === Code.Unimplemented
        ? "it speaks gRPC but does not serve grpc.health.v1.Health"
        : `it accepted a connection but did not answer a gRPC health Check (${err.message})`;
    return notUnit("not_a_unit", `${why}; not an HSU unit`, e);
  }
  if (status !== Status.SERVING) {
    return notUnit("not_serving", `health Check("") answered ${Status[status]}, not SERVING; it may be starting or draining`);
  }
  let info: UnitInfo | undefined;
  try {
    info = (await core.getInfo({}, { timeoutMs })).info;
  } catch (e) {
    const err = ConnectError.from(e);
    const why =
      err.code === Code.Unimplemented
        ? "it serves health but not hsu.core.v1.CoreService; not an HSU unit"
        : `GetInfo failed (${err.message})`;
    return notUnit("not_a_unit", why, e);
  }
  if (!info) return notUnit("not_a_unit", "GetInfo answered without info; not an HSU unit");
  return { address, found: true, unit: describeDiscovered(address, info, { core, health, ...conn }, options) };
}

interface Connection {
  readonly transport: Transport;
  readonly core: Client<typeof CoreService>;
  readonly health: Client<typeof Health>;
  close(): void;
}

function describeDiscovered(address: string, info: UnitInfo, conn: Connection, options: DiscoverUnitOptions): DiscoveredUnit {
  const managed = options.manage === true && options.token !== undefined;
  const timeoutMs = options.timeoutMs ?? 2000;
  const unit = info.unitId;
  return {
    address,
    info,
    services: [...info.services],
    managed,
    transport: conn.transport,
    core: conn.core,
    health: conn.health,
    client: (service) => createClient(service, conn.transport),
    async serving() {
      try {
        return (await conn.health.check({ service: "" }, { timeoutMs })).status === Status.SERVING;
      } catch (e) {
        throw new HsuError("unavailable", `health Check at ${address} failed: ${(e as Error).message}`, { unit }, { cause: e });
      }
    },
    async stop(deadlineMs = 5000) {
      if (!managed) {
        const why = options.manage ? "no token was given" : "it was discovered without manage: true";
        throw new HsuError(
          "permission_denied",
          `the master did not start this unit and may not stop it (${why}); discover it with { manage: true, token } to allow Shutdown`,
          { unit },
        );
      }
      try {
        await conn.core.shutdown({ deadline: durationFromMs(deadlineMs), reason: "asked by the master (discovered unit)" }, { timeoutMs });
      } catch (e) {
        const err = HsuError.from(e, "unavailable");
        throw new HsuError(err.code, `Shutdown at ${address} failed: ${err.message}`, { unit }, { cause: e });
      }
    },
    close: () => conn.close(),
  };
}

/**
 * A gRPC transport whose connection can be closed: a probe that found no unit
 * must not keep a socket open to whatever listens there. The sockets are
 * tracked here because the session manager's abort leaves an idle HTTP/2
 * session's socket open.
 */
async function openConnection(address: UnitAddress, token: string | undefined, timeoutMs: number): Promise<Omit<Connection, "core" | "health">> {
  // connect-node (and node:http, https, zlib behind it) loads only when a deployment discovers units.
  const { createGrpcTransport, Http2SessionManager } = await import("@connectrpc/connect-node");
  const baseUrl =
    address.kind === "unix" ? "http://localhost" : `http://${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`;
  const sockets = new Set<net.Socket>();
  const createConnection = () => {
    const socket = address.kind === "unix" ? net.connect(address.path) : net.connect(address.port, address.host);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    return socket;
  };
  const session = new Http2SessionManager(baseUrl, { idleConnectionTimeoutMs: 60_000, connectTimeoutMs: timeoutMs }, { createConnection });
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager: session,
    interceptors: token !== undefined ? [bearer(token)] : [],
  });
  return {
    transport,
    close() {
      session.abort();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** Opens and closes a plain connection; returns why it failed, or undefined when something listens. */
function tryConnect(address: UnitAddress, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = address.kind === "unix" ? net.connect(address.path) : net.connect(address.port, address.host);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(undefined);
    });
    socket.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code ?? e.message);
    });
  });
}
