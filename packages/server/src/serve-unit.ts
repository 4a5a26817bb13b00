import type { DescService, JsonReadOptions, JsonWriteOptions } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { HealthCheckResponse_ServingStatus as Status, Health } from "@hsu/proto/gen/grpc/health/v1/health_pb.js";
import { CoreService, type UnitInfo } from "@hsu/proto/gen/hsu/core/v1/core_pb.js";
import { listenH2c, type H2cListener } from "@hsu/transport";
import type * as http2 from "node:http2";
import { coreService, describeUnit } from "./core.ts";
import { DrainGate } from "./drain.ts";
import { createFastUnary } from "@hsu/transport/server";
import type { RequestHandler } from "./generic.ts";
import { readUnitEnvironment, UnitEnvironmentError, type UnitEnvironment } from "./env.ts";
import { connectMaster } from "./handshake.ts";
import { HealthRegistry } from "./health.ts";
import { reconfigureRunner, type ReconfigureHandler } from "./reconfigure.ts";
import { watchMaster } from "./master-watch.ts";

/**
 * The reflection services (grpc.reflection.v1 and v1alpha), by name: they
 * are served by the generic pipeline (generic.ts), whose descriptors load
 * on its first call, but GetInfo, health and the drain gate know them from
 * the start.
 */
export const reflectionServiceNames = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"] as const;

/** One domain service and its implementation (unimplemented methods answer UNIMPLEMENTED). */
export interface UnitService<S extends DescService = DescService> {
  readonly service: S;
  readonly impl: Partial<ServiceImpl<S>>;
}

/** Pairs a service with its implementation, keeping the implementation typed. */
export function unitService<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): UnitService<S> {
  return { service, impl };
}

/** Options for {@link serveUnit}. */
export interface ServeUnitOptions {
  /** The unit's name (also its id when standalone). */
  name: string;
  /** The unit's version, reported by GetInfo. */
  version?: string;
  /** The domain services. */
  services?: readonly UnitService[];
  /** Where to listen when no master says (HSU_LISTEN wins). Default 127.0.0.1:50051. */
  listen?: string;
  /** Environment to read the contract from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Drain deadline for signals (Shutdown calls carry their own). Default 5000 ms. */
  shutdownDeadlineMs?: number;
  /** Largest request message accepted. Default 4 MiB. */
  readMaxBytes?: number;
  /** Stop gracefully on SIGTERM and SIGINT. Default true. */
  handleSignals?: boolean;
  /** Exit the process once stopped (code 0; 2 bad environment; 3 handshake). Default true. */
  exitProcess?: boolean;
  /**
   * Serve unary gRPC calls on the node:http2 fast path (see @hsu/transport's fast-unary.ts)
   * instead of connect-node's generic pipeline. Default true.
   */
  fastUnary?: boolean;
  /**
   * How JSON (Connect protocol, `application/json`) requests and replies are
   * read and written. By default `google.protobuf.Any` resolves every
   * message type of the served services' files and their imports; give a
   * `registry` to resolve others.
   */
  jsonOptions?: Partial<JsonReadOptions & JsonWriteOptions>;
  /**
   * Reload hook for Core Reconfigure: the master rewrote HSU_CONFIG_DIR and
   * asks the unit to take the new files without a restart. The hook gets every
   * file read again (name, content, sha256); throwing refuses them
   * (FAILED_PRECONDITION: the master restarts the unit). Without a hook,
   * Reconfigure answers UNIMPLEMENTED and config changes restart the unit.
   */
  onReconfigure?: ReconfigureHandler;
  /** Where the unit's own messages go. Default stderr. */
  log?: (line: string) => void;
}

/** Why a unit stopped. */
export interface UnitStop {
  readonly reason: string;
  /** The exit code the process should end with. */
  readonly exitCode: number;
}

/** A unit that is serving. */
export interface RunningUnit {
  /** The bound address (real port when port 0 was asked). */
  readonly address: string;
  readonly environment: UnitEnvironment;
  /** What GetInfo answers. */
  info(): UnitInfo;
  /** Sets a service's health ("" is the whole unit). */
  setHealth(service: string, serving: boolean): void;
  /** Stops gracefully: NOT_SERVING, refuse new calls, drain, close. */
  shutdown(deadlineMs?: number, reason?: string): Promise<UnitStop>;
  /** Resolves when the unit has stopped. */
  readonly stopped: Promise<UnitStop>;
}

/**
 * Serves an HSU unit: Core, grpc.health.v1, reflection and the given
 * services on the address from the environment (Unix socket or TCP), does the
 * handshake with the master when there is one, and stops gracefully on
 * Shutdown, SIGTERM/SIGINT, or the master's death.
 */
export async function serveUnit(options: ServeUnitOptions): Promise<RunningUnit> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[hsu] ${line}\n`));
  const exitProcess = options.exitProcess ?? true;
  let env: UnitEnvironment;
  try {
    env = readUnitEnvironment(options.env ?? process.env, {
      name: options.name,
      listen: options.listen ?? "127.0.0.1:50051",
    });
  } catch (e) {
    if (exitProcess && e instanceof UnitEnvironmentError) {
      log(`bad environment: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const startTimeMs = Date.now() - Math.round(process.uptime() * 1000);
  const domain = options.services ?? [];
  const serviceNames = [CoreService.typeName, Health.typeName, ...reflectionServiceNames, ...domain.map((d) => d.service.typeName)];
  const health = new HealthRegistry();
  for (const name of ["", ...serviceNames]) health.set(name, Status.SERVING);
  const gate = new DrainGate(new Set([Health.typeName, ...reflectionServiceNames]));
  const shutdownController = new AbortController();
  let listener: H2cListener | undefined;
  let info: UnitInfo | undefined;
  let stopping: Promise<UnitStop> | undefined;
  let resolveStopped!: (s: UnitStop) => void;
  const stopped = new Promise<UnitStop>((r) => (resolveStopped = r));

  const shutdown = (deadlineMs = options.shutdownDeadlineMs ?? 5000, reason = "asked to stop", exitCode = 0) => {
    stopping ??= (async () => {
      log(`stopping (${reason}); draining for up to ${deadlineMs} ms`);
      const deadline = new Promise<"deadline">((r) => setTimeout(() => r("deadline"), deadlineMs).unref());
      health.setAll(Status.NOT_SERVING);
      const drained = await Promise.race([gate.drain().then(() => "drained" as const), deadline]);
      if (drained === "deadline") log(`deadline reached with ${gate.inFlight} call(s) in flight; cancelling them`);
      health.close();
      if (drained === "deadline") shutdownController.abort();
      const closed = await Promise.race([listener?.close().then(() => "closed" as const), deadline]);
      if (closed !== "closed") await listener?.close({ force: true });
      const stop = { reason, exitCode };
      resolveStopped(stop);
      return stop;
    })();
    return stopping;
  };

  const served: UnitService[] = [
    unitService(
      CoreService,
      coreService({
        info: () => info!,
        token: env.token,
        defaultDeadlineMs: options.shutdownDeadlineMs ?? 5000,
        shutdown: (ms, reason) => void shutdown(ms, reason),
        ...(options.onReconfigure ? { reconfigure: reconfigureRunner(env.configDir, options.onReconfigure) } : {}),
      }),
    ),
    unitService(Health, health.service()),
    ...domain,
  ];
  const readMaxBytes = options.readMaxBytes ?? 4 * 1024 * 1024;
  const interceptors = [gate.interceptor()];
  // connect-node's pipeline (and reflection) loads on the first call the fast path leaves to it.
  let generic: Promise<RequestHandler> | undefined;
  const loadGeneric = () =>
    (generic ??= import("./generic.ts").then((m) =>
      m.createGenericHandler({
        services: served,
        serviceNames,
        jsonOptions: options.jsonOptions,
        readMaxBytes,
        interceptors,
        shutdownSignal: shutdownController.signal,
      }),
    ));
  const handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    loadGeneric().then(
      (h) => h(req, res),
      (e: unknown) => {
        log(`cannot serve ${req.url}: ${(e as Error).message}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      },
    );
  };
  const streamFilter =
    (options.fastUnary ?? true)
      ? createFastUnary({ services: served, readMaxBytes, interceptors, shutdownSignal: shutdownController.signal })
      : undefined;
  // The connection to the master opens while the unit binds, so the handshake finds it ready.
  const master = env.masterAddress ? connectMaster(env.masterAddress, env.token) : undefined;
  try {
    listener = await listenH2c(env.listen, handler, {
      ...(streamFilter ? { streamFilter } : {}),
      ...(env.listenFd !== undefined ? { fd: env.listenFd } : {}),
    });
  } catch (e) {
    if (exitProcess && env.listenFd !== undefined) {
      log(`bad environment: ${(e as Error).message} (LISTEN_FDS / HSU_LISTEN_FD)`);
      process.exit(2);
    }
    throw e;
  }
  info = describeUnit({
    unitId: env.unitId,
    name: options.name,
    version: options.version ?? "0.0.0",
    address: listener.address,
    services: serviceNames,
    startTimeMs,
  });
  log(`unit "${env.unitId}" serving on ${listener.address}`);

  if (options.handleSignals ?? true) {
    const onSignal = (sig: NodeJS.Signals) => void shutdown(undefined, sig);
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }
  if (env.masterPid !== undefined) {
    watchMaster(env.masterPid, (why) => void shutdown(1000, why));
  }
  if (exitProcess) {
    void stopped.then((s) => {
      log(`stopped: ${s.reason}`);
      process.exit(s.exitCode);
    });
  }
  if (master) {
    try {
      await master.register(info);
    } catch (e) {
      log(`handshake with the master at ${env.masterAddress} failed: ${(e as Error).message}`);
      await shutdown(0, "handshake failed", 3);
      if (!exitProcess) throw e;
    }
  }
  return {
    address: listener.address,
    environment: env,
    info: () => info!,
    setHealth: (service, serving) => health.set(service, serving ? Status.SERVING : Status.NOT_SERVING),
    shutdown: (ms, reason) => shutdown(ms, reason),
    stopped,
  };
}
