import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { HsuError } from "../errors.ts";
import { createSystemClock, type Clock, type Timer } from "../clock.ts";
import { isRunning, listPidsSync, readEnvironSync, readStatSync } from "../resources/proc.ts";
import { createOsProcessApi, signalGroup, sweepGroup, type GroupExit, type GroupProcess, type OsProcessApi, type SpawnRequest } from "../supervisor/os-process.ts";
import { createFileTail } from "./file-tail.ts";
import { ProcessBook, type ProcessRecord } from "./process-book.ts";

/** The environment variable that marks a process as started by one master (its state dir). */
export const OWNER_ENV = "HSU_OWNER";

/** Options for {@link createDurableOs}. */
export interface DurableOsOptions {
  /** The master's state directory: records in `units/`, output files in `logs/`. */
  stateDir: string;
  /** The marker value this master puts in every unit's environment. */
  owner: string;
  /** The OS layer underneath (real processes by default). */
  base?: OsProcessApi;
  /** Time source of offset flushes, stop deadlines and polling (the system clock by default). */
  clock?: Clock;
  /**
   * Whether two processes belong to one unit (e.g. both in its cgroup). A marked process that
   * left the group of a unit being re-adopted (setsid) is then kept with it, not stopped as a duplicate.
   */
  sameUnit?: (leader: number, other: number) => boolean;
}

/** What recovery found and did after a master restart. */
export interface RecoveryReport {
  /** Units whose live process will be taken over at their next start. */
  adoptable: string[];
  /** Processes of a previous master life that were stopped (pids). */
  stopped: number[];
}

/**
 * An OS layer for a master that must survive its own crash: a unit's output
 * goes to files (not pipes), which the master tails, and every process is
 * recorded with its start time in the state directory. After a restart,
 * `recover` finds the previous life's processes - from the records and, for
 * a crash between spawn and record, from the owner marker in their
 * environment - and either queues them for adoption (the next `spawn` of
 * that unit takes the live process over instead of starting another) or
 * stops them. No unit is duplicated, none is orphaned.
 */
export interface DurableOs extends OsProcessApi {
  recover(policy: "adopt" | "stop", wanted: (unit: string) => boolean, gracefulMs?: number): Promise<RecoveryReport>;
  /** Stops processes queued for adoption that nobody started (their unit stayed stopped). */
  dropUnclaimed(gracefulMs?: number): Promise<number[]>;
  /** Forgets a unit's record once its process is gone for good. */
  forget(unit: string): void;
}

function unitOf(env: Record<string, string | undefined>): string | undefined {
  if (env.HSU_POOL !== undefined && env.HSU_INDEX !== undefined) return `${env.HSU_POOL}-${env.HSU_INDEX}`;
  return env.HSU_UNIT_ID;
}

function sameProcess(pid: number, startTime: number): boolean {
  const stat = readStatSync(pid);
  return isRunning(stat) && stat.startTime === startTime;
}

/** Processes (group leaders) whose environment carries this owner marker. */
function markedLeaders(owner: string): { pid: number; unit: string | undefined; startTime: number }[] {
  const out: { pid: number; unit: string | undefined; startTime: number }[] = [];
  const needle = `${OWNER_ENV}=${owner}`;
  for (const pid of listPidsSync()) {
    if (pid === process.pid) continue;
    try {
      const environ = readEnvironSync(pid);
      if (!environ?.includes(needle)) continue;
      const stat = readStatSync(pid);
      if (!isRunning(stat) || stat.pgid !== pid) continue;
      const env = Object.fromEntries(environ.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
      out.push({ pid, unit: unitOf(env), startTime: stat.startTime });
    } catch {
      // Gone or not ours to read.
    }
  }
  return out;
}

async function stopLeader(pid: number, startTime: number, gracefulMs: number, clock: Clock): Promise<void> {
  if (!sameProcess(pid, startTime)) return;
  signalGroup(pid, "SIGTERM");
  const until = clock.now() + gracefulMs;
  while (sameProcess(pid, startTime) && clock.now() < until) await clock.sleep(20);
  await sweepGroup(pid, 5000, clock);
}

/** Creates the durable OS layer. */
export function createDurableOs(options: DurableOsOptions): DurableOs {
  const clock = options.clock ?? createSystemClock();
  const base = options.base ?? createOsProcessApi({ clock });
  const book = new ProcessBook(options.stateDir);
  const logDir = join(options.stateDir, "logs");
  const pending = new Map<string, ProcessRecord>();
  const live = new Map<string, ProcessRecord>();
  let flushTimer: Timer | undefined;
  const scheduleFlush = () => {
    // Offsets are saved a little late on purpose: after a crash a few lines may be read twice, never lost.
    flushTimer ??= clock.setTimer(250, () => {
      flushTimer = undefined;
      for (const r of live.values()) book.put(r);
    });
  };

  const tails = (record: ProcessRecord, exited: Promise<unknown>) => ({
    stdout: record.stdoutFile
      ? createFileTail(record.stdoutFile, { clock, from: record.stdoutOffset, until: exited, onOffset: (o) => ((record.stdoutOffset = o), scheduleFlush()) })
      : null,
    stderr: record.stderrFile
      ? createFileTail(record.stderrFile, { clock, from: record.stderrOffset, until: exited, onOffset: (o) => ((record.stderrOffset = o), scheduleFlush()) })
      : null,
  });

  const adopt = (record: ProcessRecord): GroupProcess => {
    let swept = false;
    const exited: Promise<GroupExit> = (async () => {
      // Not our child any more: there is no exit status to collect, only absence to notice.
      while (sameProcess(record.pid, record.startTime)) await clock.sleep(100);
      const survivors = await sweepGroup(record.pid, 5000, clock);
      swept = true;
      return { code: null, signal: null, survivors };
    })();
    live.set(record.unit, record);
    return {
      pid: record.pid,
      pgid: record.pid,
      ...tails(record, exited),
      warnings: [`adopted pid ${record.pid} from the previous master; its exit code will not be known`],
      exited,
      signalGroup: (signal) => !swept && sameProcess(record.pid, record.startTime) && signalGroup(record.pid, signal),
    };
  };

  return {
    async spawn(request: SpawnRequest) {
      const unit = unitOf(request.env);
      if (!unit) return base.spawn(request);
      const waiting = pending.get(unit);
      if (waiting) {
        pending.delete(unit);
        if (sameProcess(waiting.pid, waiting.startTime)) return adopt(waiting);
      }
      const env = { ...request.env, [OWNER_ENV]: options.owner };
      const files = {
        stdoutFile: request.stdout === "capture" ? join(logDir, `${unit}.stdout`) : undefined,
        stderrFile: request.stderr === "capture" ? join(logDir, `${unit}.stderr`) : undefined,
      };
      const fds = {
        ...(files.stdoutFile ? { stdoutFd: openSync(files.stdoutFile, "w", 0o600) } : {}),
        ...(files.stderrFile ? { stderrFd: openSync(files.stderrFile, "w", 0o600) } : {}),
      };
      let proc: GroupProcess;
      try {
        proc = await base.spawn({ ...request, env, ...fds });
      } finally {
        if (fds.stdoutFd !== undefined) closeSync(fds.stdoutFd);
        if (fds.stderrFd !== undefined) closeSync(fds.stderrFd);
      }
      const stat = readStatSync(proc.pid);
      const record: ProcessRecord = { unit, pid: proc.pid, startTime: stat?.startTime ?? -1, ...files, stdoutOffset: 0, stderrOffset: 0 };
      book.put(record);
      live.set(unit, record);
      void proc.exited.then(() => live.get(unit) === record && (live.delete(unit), book.remove(unit)));
      return { ...proc, ...tails(record, proc.exited) };
    },

    async recover(policy, wanted, gracefulMs = 5000) {
      const report: RecoveryReport = { adoptable: [], stopped: [] };
      const known = new Set<number>();
      for (const r of book.load((file, e) => process.emitWarning(`hsu: unreadable process record ${file}: ${e.message}`))) {
        known.add(r.pid);
        if (!sameProcess(r.pid, r.startTime)) {
          book.remove(r.unit);
          continue;
        }
        if (policy === "adopt" && wanted(r.unit) && !pending.has(r.unit)) {
          pending.set(r.unit, r);
          report.adoptable.push(r.unit);
        } else {
          await stopLeader(r.pid, r.startTime, gracefulMs, clock);
          book.remove(r.unit);
          report.stopped.push(r.pid);
        }
      }
      // A crash between spawn and record leaves a marked process nobody recorded: never keep two.
      for (const p of markedLeaders(options.owner)) {
        if (known.has(p.pid)) continue;
        const waiting = p.unit ? pending.get(p.unit) : undefined;
        if (waiting && (waiting.pid === p.pid || options.sameUnit?.(waiting.pid, p.pid))) continue;
        await stopLeader(p.pid, p.startTime, gracefulMs, clock);
        report.stopped.push(p.pid);
      }
      return report;
    },

    async dropUnclaimed(gracefulMs = 5000) {
      const stopped: number[] = [];
      for (const [unit, r] of pending) {
        pending.delete(unit);
        await stopLeader(r.pid, r.startTime, gracefulMs, clock);
        book.remove(unit);
        stopped.push(r.pid);
      }
      return stopped;
    },

    forget(unit) {
      if (live.has(unit)) throw new HsuError("failed_precondition", "the unit's process still runs", { unit });
      book.remove(unit);
    },
  };
}
