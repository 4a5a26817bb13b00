import type { DescService } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import {
  CoreService,
  Health,
  HealthCheckResponse_ServingStatus as Status,
  type UnitInfo,
} from "@hsu/proto";
import { createUnitTransport, type UnitTransportOptions } from "@hsu/transport";
import { HsuError } from "../errors.ts";

/** Options for {@link connectUnit}. */
export interface ConnectUnitOptions extends Omit<UnitTransportOptions, "token"> {
  /** The unit's token: needed for Shutdown only. */
  token?: string;
  /** The unit id, for error messages. */
  unit?: string;
}

/** Typed access to one unit: Core, health and any of its domain services. */
export interface UnitClient {
  readonly address: string;
  readonly transport: Transport;
  readonly core: Client<typeof CoreService>;
  readonly health: Client<typeof Health>;
  /** A typed client for one of the unit's domain services. */
  client<S extends DescService>(service: S): Client<S>;
  /** Ping; resolves with the unit id the unit reports. */
  ping(timeoutMs?: number): Promise<string>;
  /** GetInfo. */
  info(timeoutMs?: number): Promise<UnitInfo>;
  /** True when health Check for `service` ("" = whole unit) answers SERVING. */
  serving(service?: string, timeoutMs?: number): Promise<boolean>;
  /** Asks the unit to stop gracefully within `deadlineMs` (needs the token). */
  shutdown(deadlineMs?: number, reason?: string): Promise<void>;
  /**
   * Asks the unit to reload its HSU_CONFIG_DIR without a restart (needs the
   * token); resolves with what it now has loaded. Rejects with an HsuError:
   * `unsupported` (UNIMPLEMENTED: no reload hook), `failed_precondition` (it refused or
   * could not read the files), `unavailable`, ...
   */
  reconfigure(request?: ReconfigureCall, timeoutMs?: number): Promise<ReconfigureResult>;
}

/** What a Reconfigure call says: which render this is, and which files changed. */
export interface ReconfigureCall {
  generation?: bigint;
  changedFiles?: readonly string[];
}

/** What the unit has loaded after a Reconfigure. */
export interface ReconfigureResult {
  generation: bigint;
  files: { name: string; sha256: string }[];
}

/** Connects to a unit by address (`unix:/path` or `host:port`); no I/O until the first call. */
export function connectUnit(address: string, options: ConnectUnitOptions = {}): UnitClient {
  const { token, unit, ...transportOptions } = options;
  const transport = createUnitTransport(address, { ...transportOptions, ...(token ? { token } : {}) });
  const core = createClient(CoreService, transport);
  const health = createClient(Health, transport);
  const wrap = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (e) {
      const err = HsuError.from(e, "unavailable");
      throw new HsuError(err.code, `${what} at ${address} failed: ${err.message}`, unit ? { unit } : {}, { cause: e });
    }
  };
  return {
    address,
    transport,
    core,
    health,
    client: (service) => createClient(service, transport),
    ping: (timeoutMs = 5000) => wrap("Ping", async () => (await core.ping({}, { timeoutMs })).unitId),
    info: (timeoutMs = 5000) =>
      wrap("GetInfo", async () => {
        const res = await core.getInfo({}, { timeoutMs });
        if (!res.info) throw new HsuError("internal", "GetInfo answered without info");
        return res.info;
      }),
    serving: (service = "", timeoutMs = 5000) =>
      wrap("health Check", async () => (await health.check({ service }, { timeoutMs })).status === Status.SERVING),
    shutdown: (deadlineMs = 5000, reason = "asked by the master") =>
      wrap("Shutdown", async () => {
        await core.shutdown({ deadline: durationFromMs(deadlineMs), reason }, { timeoutMs: 5000 });
      }),
    reconfigure: (request = {}, timeoutMs = 10_000) =>
      wrap("Reconfigure", () => callReconfigure(core, request, timeoutMs)),
  };
}

/** One Reconfigure call on a Core client, its reply as plain values (shared by UnitClient and IntegratedUnit). */
export async function callReconfigure(core: Client<typeof CoreService>, request: ReconfigureCall, timeoutMs: number): Promise<ReconfigureResult> {
  const res = await core.reconfigure({ generation: request.generation ?? 0n, changedFiles: [...(request.changedFiles ?? [])] }, { timeoutMs });
  return { generation: res.generation, files: res.files.map((f) => ({ name: f.name, sha256: f.sha256 })) };
}
