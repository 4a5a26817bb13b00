import type { ConnectRouter } from "@connectrpc/connect";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { HsuError } from "@hsu/client";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { lstat, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Deployment } from "../config/index.ts";
import { listenControl, type ControlListeners } from "../control/listen.ts";
import { controlService } from "../control/service.ts";
import { createUnitProxy } from "../control/unit-proxy.ts";
import { createMaster, type Master } from "./master.ts";

/** A master serving its control API. */
export interface RunningMaster {
  readonly master: Master;
  readonly control: ControlListeners;
  /** Resolves once the master has shut down (ShutdownMaster, a signal, or `stop`). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

async function rmSocket(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (st?.isSocket()) await rm(path, { force: true });
}

/** True when a master already answers on this control socket. */
export async function masterAnswers(socketPath: string): Promise<boolean> {
  const client = createClient(ControlService, createUnitTransport(`unix:${socketPath}`, { connectTimeoutMs: 1000 }));
  try {
    await client.listUnits({}, { timeoutMs: 2000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a master for a deployment and serves its control API (and the unit
 * proxy) on the control socket. Refuses to start a second master for the
 * same state directory. `up()` is left to the caller, so it can show progress.
 */
export async function runMaster(deployment: Deployment, options: { log?: (line: string) => void; handleSignals?: boolean } = {}): Promise<RunningMaster> {
  const m = deployment.master;
  if (await masterAnswers(m.controlSocket)) {
    throw new HsuError("already_exists", `a master is already running on ${m.controlSocket}; use \`hsu apply\` to change it or \`hsu down\` to stop it`);
  }
  let token: string | undefined;
  if (m.tokenFile) token = (await readFile(m.tokenFile, "utf8")).trim();
  const master = await createMaster({ deployment, ...(options.log ? { log: options.log } : {}) });
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;
  const pidFile = join(m.stateDir, "master.pid");
  let control: ControlListeners | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await master.shutdown().catch((e: unknown) => options.log?.(`shutdown: ${(e as Error).message}`));
      await control?.close();
      await rm(pidFile, { force: true });
      resolveDone();
    })());
  const proxy = createUnitProxy(async (unit, signal) => {
    try {
      const slot = master.integrated(unit);
      return await slot.unit.lease(signal);
    } catch (e) {
      if (e instanceof ConnectError) throw e;
      const err = HsuError.from(e);
      throw new ConnectError(err.message, err.code === "not_found" ? Code.NotFound : err.grpcCode);
    }
  });
  // A master that cannot serve its control API must not stay around without it: release everything.
  try {
    control = await listenControl({
      socketPath: m.controlSocket,
      ...(m.controlTcp ? { tcp: m.controlTcp } : {}),
      ...(token ? { token } : {}),
      routes: (router: ConnectRouter) => router.service(ControlService, controlService(master, () => void stop())),
      fallback: proxy,
    });
    await writeFile(pidFile, `${process.pid}\n`);
    // Scripts (and `hsu --socket`) learn the TCP port here when port 0 was asked for.
    if (control.tcpAddress) await writeFile(join(m.stateDir, "control-tcp.addr"), `${control.tcpAddress}\n`);
  } catch (e) {
    await stop();
    // The socket was ours (no master answered on it above): a master that cannot start leaves none.
    if (!control) await rmSocket(m.controlSocket);
    throw e;
  }
  if (options.handleSignals ?? true) {
    const onSignal = () => void stop();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  return { master, control, done: done.then(() => undefined), stop };
}
