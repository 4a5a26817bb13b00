import { spawn as nodeSpawn, type ChildProcess } from "node:child_process";
import { constants as osConstants, setPriority } from "node:os";
import type { Readable } from "node:stream";
import { HsuError } from "../errors.ts";
import { createSystemClock, type Clock } from "../clock.ts";
import { liveGroupMembers } from "./os-process-linux.ts";
import type { OutputMode } from "./spec.ts";

/** How the leader of a process group ended: an exit code or a signal, never both. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The leader's exit plus the outcome of clearing the rest of its group. */
export interface GroupExit extends ExitStatus {
  /** Group members still alive after the sweep gave up (normally empty). */
  survivors: number[];
}

/** What to run. `command` must already be resolved (absolute path). */
export interface SpawnRequest {
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd?: string;
  stdout: OutputMode;
  stderr: OutputMode;
  /** Write stdout to this open file descriptor instead (the child keeps it even if the master dies). */
  stdoutFd?: number;
  /** Write stderr to this open file descriptor instead. */
  stderrFd?: number;
  nice?: number;
}

/** A running process that leads its own process group. */
export interface GroupProcess {
  readonly pid: number;
  /** The process group id (equal to `pid`: the child is spawned as a group leader). */
  readonly pgid: number;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Problems that did not stop the spawn (e.g. the nice value could not be applied). */
  readonly warnings: string[];
  /**
   * Resolves when the leader exited AND every other member of its group is gone:
   * anything left behind is SIGKILLed, so a unit never leaks orphans.
   */
  readonly exited: Promise<GroupExit>;
  /** Sends `signal` to the whole group; false when the group no longer exists. */
  signalGroup(signal: NodeJS.Signals): boolean;
}

/** The OS layer the managed unit uses; real processes in production and OS tests. */
export interface OsProcessApi {
  spawn(request: SpawnRequest): Promise<GroupProcess>;
}

/** Options of {@link createOsProcessApi}. */
export interface OsProcessApiOptions {
  /** How long the post-exit sweep waits for SIGKILLed members to disappear (default 5000 ms). */
  sweepTimeoutMs?: number;
  /** Time source of the sweep's deadline and polling (the system clock by default). */
  clock?: Clock;
}

const systemClock = createSystemClock();

/** The real OS layer: `child_process.spawn` with `detached: true` (new process group). */
export function createOsProcessApi(options: OsProcessApiOptions = {}): OsProcessApi {
  const sweepTimeoutMs = options.sweepTimeoutMs ?? 5000;
  const clock = options.clock ?? systemClock;
  return {
    async spawn(request) {
      const child = nodeSpawn(request.command, [...request.args], {
        detached: true,
        env: request.env,
        ...(request.cwd === undefined ? {} : { cwd: request.cwd }),
        stdio: ["ignore", request.stdoutFd ?? stdioFor(request.stdout), request.stderrFd ?? stdioFor(request.stderr)],
      });
      // Ask for the exit before awaiting 'spawn' so a very fast exit is not missed.
      const leaderExit = new Promise<ExitStatus>((resolve) => {
        child.once("exit", (code, signal) => resolve({ code, signal }));
      });
      await new Promise<void>((resolve, reject) => {
        child.once("spawn", resolve);
        child.once("error", (err) =>
          reject(new HsuError("unavailable", `could not spawn "${request.command}": ${err.message}`, {}, { cause: err })),
        );
      });
      const pid = child.pid!;
      const warnings: string[] = [];
      if (request.nice !== undefined) {
        try {
          setPriority(pid, request.nice);
        } catch (err) {
          warnings.push(`nice ${request.nice} not applied: ${(err as Error).message}`);
        }
      }
      return wrap(child, pid, leaderExit, warnings, sweepTimeoutMs, clock);
    },
  };
}

function stdioFor(mode: OutputMode): "pipe" | "inherit" | "ignore" {
  return mode === "capture" ? "pipe" : mode;
}

function wrap(
  child: ChildProcess,
  pid: number,
  leaderExit: Promise<ExitStatus>,
  warnings: string[],
  sweepTimeoutMs: number,
  clock: Clock,
): GroupProcess {
  let swept = false;
  const exited = leaderExit.then(async (status) => {
    const survivors = await sweepGroup(pid, sweepTimeoutMs, clock);
    swept = true;
    return { ...status, survivors };
  });
  return {
    pid,
    pgid: pid,
    stdout: child.stdout,
    stderr: child.stderr,
    warnings,
    exited,
    signalGroup(signal) {
      if (swept) return false;
      return signalGroup(pid, signal);
    },
  };
}

/** Sends `signal` to process group `pgid`; false when no process of the group is left. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw new HsuError("internal", `could not send ${signal} to process group ${pgid}: ${(err as Error).message}`, {}, { cause: err });
  }
}

/**
 * After the leader is gone: SIGKILL whatever is left of its group and wait until
 * no live member remains. Returns the pids that outlived `timeoutMs` (normally none).
 */
export async function sweepGroup(pgid: number, timeoutMs: number, clock: Clock = systemClock): Promise<number[]> {
  // The common case - the whole group is gone - costs one syscall, not a scan of /proc.
  if (!groupExists(pgid)) return [];
  let members = groupMembers(pgid);
  if (members.length === 0) return [];
  signalGroup(pgid, "SIGKILL");
  const deadline = clock.now() + timeoutMs;
  // SIGKILL is asynchronous: poll /proc until the kernel has torn the members down.
  while (members.length > 0 && clock.now() < deadline) {
    await clock.sleep(10);
    members = groupMembers(pgid);
  }
  return members;
}

/** Whether any process (zombies included) is still in group `pgid`. */
function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** Live pids in group `pgid` (from /proc on Linux; a bare existence probe elsewhere). */
export function groupMembers(pgid: number): number[] {
  if (process.platform === "linux") return liveGroupMembers(pgid);
  try {
    process.kill(-pgid, 0);
    return [pgid];
  } catch {
    return [];
  }
}

/** Options of {@link stopGroup}. */
export interface StopOptions {
  signal: NodeJS.Signals;
  gracefulTimeoutMs: number;
  clock: Clock;
}

/** What {@link stopGroup} needs of a process: a way to signal its group and its exit. */
export interface Stoppable<E> {
  signalGroup(signal: NodeJS.Signals): boolean;
  readonly exited: Promise<E>;
}

/**
 * The one stop escalation of every unit process: `signal` to the whole group,
 * SIGKILL to the group after `gracefulTimeoutMs`, and (via `exited`, for a
 * {@link GroupProcess}) SIGKILL for anything left once the leader is gone.
 * Resolves with how the process ended.
 */
export function stopGroup<E>(proc: Stoppable<E>, options: StopOptions): Promise<E> {
  proc.signalGroup(options.signal);
  const timer = options.clock.setTimer(options.gracefulTimeoutMs, () => proc.signalGroup("SIGKILL"));
  return proc.exited.finally(() => timer.cancel());
}

/** The exit status as text: "exit code 3" or "signal SIGKILL". */
export function describeExit(status: ExitStatus): string {
  if (status.signal) return `signal ${status.signal}`;
  return `exit code ${status.code ?? "unknown"}`;
}

/** Whether `name` is a signal this platform knows. */
export function isSignalName(name: string): name is NodeJS.Signals {
  return name in osConstants.signals;
}
