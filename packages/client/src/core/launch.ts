import type { UnitInfo } from "@hsu/proto";
import { newToken } from "@hsu/transport";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, watch, type FSWatcher } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { createSystemClock, type Clock } from "../clock.ts";
import { HsuError } from "../errors.ts";
import { signalGroup, stopGroup, sweepGroup } from "../supervisor/os-process.ts";
import { activationEnv, bindActivationSocket, type ActivationSocket } from "./activation.ts";
import type { Registrar } from "./registrar.ts";
import { connectUnit, type UnitClient } from "./unit-client.ts";

/** Options for {@link launchUnit}. */
export interface LaunchUnitOptions {
  /** The unit id (HSU_UNIT_ID). */
  id: string;
  command: string;
  args?: readonly string[];
  cwd?: string;
  /** Merged over the master's environment (or, with `inheritEnv: false`, all the unit gets besides HSU_*). */
  env?: Record<string, string>;
  /** Start from the master's environment (default true); false gives the unit only `env` and the contract's variables. */
  inheritEnv?: boolean;
  /** "unix" (default): a socket in `socketDir`; "tcp": 127.0.0.1:0; or an explicit address. */
  listen?: "unix" | "tcp" | string;
  /** Where Unix sockets go. Default: a fresh private temp dir. */
  socketDir?: string;
  registrar: Registrar;
  /** How long the unit has to register. Default 10 s. */
  startTimeoutMs?: number;
  /** Pass HSU_MASTER_PID so the unit exits when this process dies. Default true. */
  exitWithMaster?: boolean;
  /** What to do with the unit's output. Default "inherit". */
  stdio?: "inherit" | "pipe" | "ignore";
  /**
   * With `stdio: "pipe"`: receives the unit's stdout and stderr streams (a
   * log collector); the stderr tail for start errors is then not kept here.
   */
  output?: (stream: "stdout" | "stderr", source: import("node:stream").Readable) => void;
  /** Time between SIGTERM and SIGKILL when the unit does not leave after Shutdown. Default 2000 ms. */
  killGraceMs?: number;
  /** Time source of the stop escalation. Default the system clock (unref'd timers). */
  clock?: Clock;
  /**
   * Socket activation (default true with `listen` "unix" or "tcp"): the master
   * binds the unit's socket before spawning and passes it as fd 3
   * (`LISTEN_FDS=1`, `HSU_LISTEN_FD=3`), so connections queue in the kernel
   * while the unit starts. A unit that cannot adopt it binds HSU_LISTEN itself
   * as before. An explicit `listen` address is never activated.
   */
  socketActivation?: boolean;
  /**
   * Called right after spawn with a client for the unit's socket, before the
   * handshake: calls sent on it wait in the socket's backlog until the unit
   * serves. `adopted` resolves at the handshake: true when the unit serves on
   * the master's socket (the calls get answered), false when it bound its own
   * or failed to start (calls sent early will not be; send them again).
   */
  onSpawned?: (early: EarlyUnit) => void;
}

/** A unit's socket as reachable between spawn and handshake (see {@link LaunchUnitOptions.onSpawned}). */
export interface EarlyUnit {
  readonly client: UnitClient;
  readonly adopted: Promise<boolean>;
}

/** A unit that has completed its handshake. */
export interface LaunchedUnit {
  readonly id: string;
  readonly pid: number;
  readonly token: string;
  /** What the unit registered. */
  readonly info: UnitInfo;
  readonly client: UnitClient;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Core Shutdown (the unit has `deadlineMs` to drain and exit), then the one
   * stop escalation (`stopGroup`: SIGTERM, SIGKILL after `killGraceMs`), then
   * SIGKILL for whatever is left of the group.
   */
  stop(deadlineMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a unit with the environment contract (docs/unit-contract.md) and
 * waits for its handshake. Fails with `unavailable` and the reason (exit code,
 * last stderr lines) when the unit exits or times out before registering.
 */
export async function launchUnit(options: LaunchUnitOptions): Promise<LaunchedUnit> {
  const token = newToken();
  const unixSocket = options.listen === undefined || options.listen === "unix";
  // A temp dir of our own for the socket, removed once the unit has exited.
  const ownDir = unixSocket && !options.socketDir ? mkdtempSync(join(tmpdir(), "hsu-u-")) : undefined;
  const unixPath = unixSocket ? join(options.socketDir ?? ownDir!, `${options.id}.sock`) : undefined;
  let activation: ActivationSocket | undefined;
  if ((options.socketActivation ?? true) && (unixPath !== undefined || options.listen === "tcp")) {
    try {
      activation = await bindActivationSocket(unixPath !== undefined ? { unixPath } : "tcp", options.id);
    } catch (e) {
      if (ownDir) await rm(ownDir, { recursive: true, force: true });
      throw e;
    }
  }
  const listen: string = activation?.address ?? (unixPath !== undefined ? `unix:${unixPath}` : options.listen === "tcp" ? "127.0.0.1:0" : options.listen!);
  const env: Record<string, string> = {
    ...(options.inheritEnv === false ? {} : (process.env as Record<string, string>)),
    ...options.env,
    HSU_UNIT_ID: options.id,
    // TCP: a unit that binds by itself must not collide with the passed socket's port; it gets port 0.
    HSU_LISTEN: activation && unixPath === undefined ? "127.0.0.1:0" : listen,
    HSU_MASTER_ADDR: options.registrar.address,
    HSU_TOKEN: token,
  };
  if (options.exitWithMaster ?? true) env.HSU_MASTER_PID = String(process.pid);
  else delete env.HSU_MASTER_PID;
  // sd_listen_fds(3) variables are per process: never pass on ones the master itself was given.
  for (const name of ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "HSU_LISTEN_FD"]) delete env[name];
  if (activation) Object.assign(env, activationEnv);
  const pending = options.registrar.expect(options.id, token, options.startTimeoutMs ?? 10_000);
  const early = unixSocket && !activation ? connectOnBind(listen, { token, unit: options.id }) : undefined;
  const stdio = options.stdio ?? "inherit";
  const clock = options.clock ?? launchClock;
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args ?? [], {
      cwd: options.cwd,
      env,
      detached: true,
      stdio: ["ignore", stdio, stdio === "inherit" ? "inherit" : "pipe", ...(activation ? [activation.fd] : [])],
    });
  } finally {
    // The child has its copy (or there is no child): the socket lives exactly as long as the unit's processes.
    activation?.release();
  }
  let activated: { client: UnitClient; adopted: Promise<boolean>; settle(adopted: boolean): void } | undefined;
  if (activation) {
    let settle!: (adopted: boolean) => void;
    const adopted = new Promise<boolean>((resolve) => (settle = resolve));
    activated = { client: connectUnit(listen, { token, unit: options.id, eagerConnect: true }), adopted, settle };
    options.onSpawned?.({ client: activated.client, adopted });
  }
  const stderrTail: string[] = [];
  if (options.output && stdio === "pipe") {
    options.output("stdout", child.stdout!);
    options.output("stderr", child.stderr!);
  } else {
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      if (stdio === "inherit") return;
      stderrTail.push(...chunk.split("\n").filter(Boolean));
      stderrTail.splice(0, Math.max(0, stderrTail.length - 20));
    });
  }
  const leaderExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: null, signal: null }));
  });
  // Like every supervised process: the exit counts once the rest of the group is gone too.
  const exited = leaderExit.then(async (status) => {
    if (child.pid !== undefined) await sweepGroup(child.pid, 5000, clock);
    return status;
  });
  const passed = activation;
  if (passed) void exited.then(() => passed.remove());
  if (ownDir) void exited.then(() => rm(ownDir, { recursive: true, force: true }));
  const spawnError = new Promise<never>((_, reject) => child.once("error", reject));
  void leaderExit.then(({ code, signal }) => pending.cancel(`exited before registering (${signal ?? `code ${code}`})`));
  let info: UnitInfo;
  try {
    info = await Promise.race([pending.registered, spawnError]);
  } catch (e) {
    early?.stop();
    activated?.settle(false);
    killGroup(child, "SIGKILL");
    await exited;
    const tail = stderrTail.length ? `; stderr: ${stderrTail.slice(-5).join(" | ")}` : "";
    throw new HsuError("unavailable", `failed to start: ${(e as Error).message}${tail}`, { unit: options.id }, { cause: e });
  }
  const adopted = activation?.adoptedBy(info.address) ?? false;
  activated?.settle(adopted);
  const client = (adopted ? activated?.client : early?.take(info.address)) ?? connectUnit(info.address, { token, unit: options.id });
  let stopping: ReturnType<LaunchedUnit["stop"]> | undefined;
  return {
    id: options.id,
    pid: child.pid!,
    token,
    info,
    client,
    child,
    exited,
    stop(deadlineMs = 5000) {
      stopping ??= (async () => {
        let timer: ReturnType<Clock["setTimer"]> | undefined;
        const drained = await Promise.race([
          exited.then(() => true),
          client.shutdown(deadlineMs).then(
            () => new Promise<boolean>((resolve) => (timer = clock.setTimer(deadlineMs, () => resolve(false)))),
            // Refused or unreachable: straight to the signals.
            () => false,
          ),
        ]);
        timer?.cancel();
        if (drained) return exited;
        return stopGroup({ signalGroup: (sig) => killGroup(child, sig), exited }, { signal: "SIGTERM", gracefulTimeoutMs: options.killGraceMs ?? 2000, clock });
      })();
      return stopping;
    },
  };
}

/**
 * For a Unix socket the master knows the unit's address before the unit
 * binds it: watches the socket's directory (inotify) and opens the
 * connection the moment the socket appears, while the unit is still making
 * its Register call, so the first call after the handshake does not wait
 * for connection setup. Without a watcher (no inotify) it does nothing and
 * the first call connects, as before.
 */
function connectOnBind(listen: string, options: { token: string; unit: string }): { take(address: string): UnitClient | undefined; stop(): void } {
  const path = listen.slice("unix:".length);
  const name = basename(path);
  let client: UnitClient | undefined;
  let watcher: FSWatcher | undefined;
  const stop = () => {
    watcher?.close();
    watcher = undefined;
  };
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
      // The unit may first remove a stale socket: connect only once one exists.
      if (client !== undefined || file !== name || !existsSync(path)) return;
      client = connectUnit(listen, { ...options, eagerConnect: true });
      stop();
    });
    watcher.on("error", stop);
  } catch {
    watcher = undefined;
  }
  return {
    take(address) {
      stop();
      return address === listen ? client : undefined;
    },
    stop,
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): boolean {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return false;
  return signalGroup(child.pid, signal);
}

// Unref'd: a pending stop timer never keeps the caller's process alive.
const launchClock = createSystemClock({ unref: true });
