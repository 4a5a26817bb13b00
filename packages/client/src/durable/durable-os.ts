import { execFile } from "node:child_process";
import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, rmSync, statSync } from "node:fs";
import { unlink } from "node:fs/promises";
import { join } from "node:path";
import { HsuError } from "../errors.ts";
import { createSystemClock, type Clock, type Timer } from "../clock.ts";
import { currentBootId, isSameProcess } from "../resources/identity.ts";
import { readStatSync } from "../resources/proc.ts";
import { createOsProcessApi, signalGroup, stopGroup, sweepGroup, type GroupExit, type GroupProcess, type OsProcessApi, type SpawnRequest } from "../supervisor/os-process.ts";
import type { LogSink } from "../supervisor/ports.ts";
import { createFileTail, type FileTail } from "./file-tail.ts";
import { markedProcesses, OWNER_ENV, unitOfEnv, type MarkedProcess } from "./owned.ts";

export { OWNER_ENV } from "./owned.ts";
import { ProcessBook, type ProcessRecord } from "./process-book.ts";


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
  /**
   * Where output a previous life left unread goes before its record is
   * dropped (the master's log collector). Without one, that output is
   * discarded, as a supervisor without a log sink discards all output.
   */
  logSink?: LogSink;
  /** A record is rewritten as soon as this many more bytes were acknowledged (default 32 KiB), else within 250 ms. */
  recordEveryBytes?: number;
  /**
   * A capture file's recorded prefix is freed (hole-punched) once this many
   * bytes of it can go (default 1 MiB): the slack of allocated blocks.
   */
  freeEveryBytes?: number;
  /** Frees `[offset, offset + length)` of a file keeping its size (default: `fallocate --punch-hole --keep-size`). */
  punchHole?: (file: string, offset: number, length: number) => Promise<void>;
  /** Where the layer's warnings go (default: process.emitWarning). */
  warn?: (message: string) => void;
  /**
   * Capture files of units whose output may hold secrets go to `dir` (a
   * private tmpfs directory) instead of `<state>/logs`, so unread output is
   * never on a persistent disk. `wants(unit)` is asked at each spawn.
   */
  privateCapture?: { readonly dir: string; wants(unit: string): boolean };
}

/** What recovery found and did after a master restart. */
export interface RecoveryReport {
  /** Units whose live process will be taken over at their next start. */
  adoptable: string[];
  /** Processes of a previous master life that were stopped (pids). */
  stopped: number[];
  /** Units whose process is gone and whose output left unread by the previous life was read into their logs. */
  drained: string[];
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
 *
 * Output: each unit stream has one capture file, `<state>/logs/<unit>.stdout`
 * (`.stderr`), opened append-only and never truncated. The log sink
 * acknowledges the bytes it wrote to the unit's log; the record keeps that
 * offset (rewritten every `recordEveryBytes` or 250 ms), and the recorded
 * prefix of the capture file is hole-punched, so its allocated blocks stay
 * about `freeEveryBytes` plus what is not yet written to the log. A record
 * goes only once its process is gone and its output is read to the end and
 * acknowledged; then the capture file goes too. A record whose process is
 * gone when a master starts is drained into the log first (`recover`).
 */
export interface DurableOs extends OsProcessApi {
  recover(policy: "adopt" | "stop", wanted: (unit: string) => boolean, gracefulMs?: number): Promise<RecoveryReport>;
  /** Stops processes queued for adoption that nobody started (their unit stayed stopped). */
  dropUnclaimed(gracefulMs?: number): Promise<number[]>;
  /** Forgets a unit's record once its process is gone for good (refused while its run's output is still being read). */
  forget(unit: string): void;
  /**
   * Resolves once the records and capture files of every run that ended so
   * far are removed. They go in a batch off the exit path (see `settle`), so
   * a master that is shutting down waits for this before it exits.
   */
  idle(): Promise<void>;
}

/** A process found live on this boot (a marked leader) or recorded with its boot id (a record). */
function sameProcess(pid: number, startTime: number, bootId: string | undefined = currentBootId()): boolean {
  return isSameProcess({ pid, startTime, ...(bootId === undefined ? {} : { bootId }) });
}

/** Processes (group leaders) whose environment carries this owner marker. */
function markedLeaders(owner: string): MarkedProcess[] {
  return markedProcesses(owner).filter((p) => p.leader);
}

/**
 * Stops a previous life's process that is not our child, by the one stop
 * escalation (SIGTERM to its group, SIGKILL after `gracefulMs`, then a sweep
 * of what is left in the group); it is watched by its identity, since there
 * is no exit status to wait for.
 */
async function stopLeader(pid: number, startTime: number, gracefulMs: number, clock: Clock, bootId?: string): Promise<void> {
  const same = () => sameProcess(pid, startTime, bootId);
  if (!same()) return;
  const exited = (async () => {
    while (same()) await clock.sleep(20);
    await sweepGroup(pid, 5000, clock);
  })();
  await stopGroup({ signalGroup: (signal) => same() && signalGroup(pid, signal), exited }, { signal: "SIGTERM", gracefulTimeoutMs: gracefulMs, clock });
}


/** What the layer tracks of one stream of one run. */
interface Capture {
  readonly stream: "stdout" | "stderr";
  readonly file: string;
  /** Offset acknowledged as written to the log. */
  acked: number;
  /** Offset in the record on disk. */
  recorded: number;
  /** Bytes before this were punched out. */
  freed: number;
  /** Offset the tail read to when it ended (undefined while it reads). */
  endedAt: number | undefined;
}

/** One run (spawned or adopted) whose record is kept until its output is all in the log. */
interface Tracked {
  readonly record: ProcessRecord;
  readonly captures: Capture[];
  exited: boolean;
  /** A newer run of the unit took the record over: this one writes nothing any more. */
  superseded: boolean;
  done: boolean;
}

const BLOCK = 4096;

/**
 * How long ended runs are collected before their records and capture files
 * are removed in one batch. Long enough that a unit restarted at once (delay
 * 0) takes its record over before the batch and never waits for a removal;
 * short enough that the files of a stopped unit go promptly.
 */
const REMOVE_AFTER_MS = 100;

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** `fallocate --punch-hole --keep-size` (util-linux): frees blocks, keeps offsets. */
export function punchHoleWithFallocate(file: string, offset: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("fallocate", ["--punch-hole", "--keep-size", "--offset", String(offset), "--length", String(length), file], { timeout: 10_000 }, (err, _out, stderr) =>
      err ? reject(new HsuError("unavailable", `fallocate --punch-hole on ${file} failed: ${String(stderr).trim() || err.message}`, {}, { cause: err })) : resolve(),
    );
  });
}

/** Creates the durable OS layer. */
export function createDurableOs(options: DurableOsOptions): DurableOs {
  const clock = options.clock ?? createSystemClock();
  const base = options.base ?? createOsProcessApi({ clock });
  const book = new ProcessBook(options.stateDir);
  const logDir = join(options.stateDir, "logs");
  const recordEvery = options.recordEveryBytes ?? 32 * 1024;
  const freeEvery = Math.max(BLOCK, options.freeEveryBytes ?? 1024 * 1024);
  const punchHole = options.punchHole ?? punchHoleWithFallocate;
  const warn = options.warn ?? ((m: string) => process.emitWarning(`hsu: ${m}`));
  let punching = true;
  const pending = new Map<string, ProcessRecord>();
  /** The current run of each unit whose record is kept. */
  const live = new Map<string, Tracked>();
  let flushTimer: Timer | undefined;

  const privateCapture = options.privateCapture;
  const captureDirOf = (unit: string): string => {
    if (!privateCapture?.wants(unit)) return logDir;
    mkdirSync(privateCapture.dir, { recursive: true, mode: 0o700 });
    // It may sit in a shared tmpfs (/dev/shm): only a real directory of ours, closed to others, is written into.
    const st = lstatSync(privateCapture.dir);
    if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) {
      throw new HsuError("failed_precondition", `${privateCapture.dir} is not a private directory of this user (a symlink, another user's, or open to others): remove it, then start the unit again`, { unit });
    }
    return privateCapture.dir;
  };
  const captureDirs = privateCapture ? [logDir, privateCapture.dir] : [logDir];

  const free = (t: Tracked, c: Capture): void => {
    const upTo = Math.floor(c.recorded / BLOCK) * BLOCK;
    if (!punching || upTo - c.freed < freeEvery) return;
    const from = c.freed;
    c.freed = upTo; // claimed now so two punches never overlap; the record already covers it
    punchHole(c.file, from, upTo - from).catch((e: unknown) => {
      if (!punching) return;
      punching = false;
      warn(`cannot free read output of unit "${t.record.unit}" (${(e as Error).message}); capture files will grow until their unit's process ends`);
    });
  };

  const persist = (t: Tracked): void => {
    if (t.superseded || t.done) return;
    const out = t.captures.find((c) => c.stream === "stdout");
    const err = t.captures.find((c) => c.stream === "stderr");
    if (out) t.record.stdoutOffset = out.acked;
    if (err) t.record.stderrOffset = err.acked;
    book.put(t.record);
    for (const c of t.captures) {
      c.recorded = c.acked;
      free(t, c);
    }
  };

  const scheduleFlush = () => {
    // Acknowledged offsets are saved a little late on purpose: after a crash a few lines may be written twice, never lost.
    flushTimer ??= clock.setTimer(250, () => {
      flushTimer = undefined;
      for (const t of live.values()) if (t.captures.some((c) => c.acked > c.recorded)) persist(t);
    });
  };

  /**
   * Runs that ended with all their output in the log, whose record and
   * capture files are still to be removed, by unit. The removal is not done
   * on the exit path: a stop of many units sends every stop signal and a
   * restart spawns again before any file is touched. Until the batch runs, a
   * new run of the unit takes the entry over (it goes on in the same capture
   * file, from where the ended run's output was all read); a crash before it
   * leaves a record whose process is gone, which the next master drains
   * (repeating at most what was acknowledged but not recorded, the usual
   * bound) and removes.
   */
  const ended = new Map<string, Tracked>();
  // One unlink, gone already counts as removed: fs.rm would lstat first and go through its tree removal (a
  // third of a stop's CPU for 100 units' 300 files).
  const removeFile = (file: string) =>
    unlink(file).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") throw e;
    });
  /** Removals issued and not finished yet, by unit: a new run of that unit waits for its own before it writes its record. */
  const removing = new Map<string, Promise<void>>();
  let batch: Timer | undefined;
  let batchDone: Promise<void> = Promise.resolve();

  const removeEnded = (): void => {
    batch = undefined;
    const runs = [...ended.values()];
    ended.clear();
    const all = runs.map((t) => {
      const unit = t.record.unit;
      // Record first, capture files second: a capture file without a record is known to be fully read.
      const done = removeFile(join(book.dir, `${unit}.json`))
        .then(() => Promise.all(t.captures.map((c) => removeFile(c.file))))
        .then(
          () => undefined,
          (e: unknown) => warn(`cannot remove the record or capture files of unit "${unit}" (${(e as Error).message}); the next master drains and removes them`),
        )
        .finally(() => {
          if (removing.get(unit) === done) removing.delete(unit);
        });
      removing.set(unit, done);
      return done;
    });
    batchDone = Promise.all([batchDone, ...all]).then(() => undefined);
  };

  /**
   * Runs spawned whose pid is not in their record yet, with that pid. The
   * record written before the spawn already says where the run's output
   * starts; the pid (and start time) follow for all the spawns of one turn of
   * the event loop together, so a start of many units spawns them all first.
   * A master that dies in between leaves a marked process with no pid in a
   * record: the next one stops it (never two) and drains its output.
   */
  const unrecorded = new Map<Tracked, number>();
  const recordPids = (): void => {
    for (const [t, pid] of unrecorded) {
      // An ended run's record is being removed, a superseded one belongs to a newer run.
      if (t.done || t.superseded) continue;
      t.record.pid = pid;
      t.record.startTime = readStatSync(pid)?.startTime ?? -1;
      t.record.bootId = currentBootId();
      book.put(t.record);
    }
    unrecorded.clear();
  };

  /** The run is over once its process is gone and every byte its tails read was acknowledged. */
  const settle = (t: Tracked): void => {
    if (t.done || !t.exited || !t.captures.every((c) => c.endedAt !== undefined && c.acked >= c.endedAt)) return;
    t.done = true;
    if (t.superseded) return;
    if (live.get(t.record.unit) === t) live.delete(t.record.unit);
    ended.set(t.record.unit, t);
    batch ??= clock.setTimer(REMOVE_AFTER_MS, removeEnded);
  };

  /** Starts tracking a run: tails from the record's offsets, acknowledgements into the record. */
  const track = (record: ProcessRecord, exited: Promise<unknown>): { tracked: Tracked; stdout: FileTail | null; stderr: FileTail | null } => {
    const previous = live.get(record.unit);
    if (previous) previous.superseded = true;
    const tracked: Tracked = { record, captures: [], exited: false, superseded: false, done: false };
    live.set(record.unit, tracked);
    const tail = (stream: "stdout" | "stderr", file: string | undefined, from: number): FileTail | null => {
      if (!file) return null;
      // Freed from 0: a previous life may have freed less than it recorded (punching a hole again is a no-op).
      const c: Capture = { stream, file, acked: from, recorded: from, freed: 0, endedAt: undefined };
      tracked.captures.push(c);
      const t = createFileTail(file, {
        clock,
        from,
        until: exited,
        onWritten: (offset) => {
          if (offset <= c.acked) return;
          c.acked = offset;
          if (c.acked - c.recorded >= recordEvery) persist(tracked);
          else scheduleFlush();
          settle(tracked);
        },
      });
      const ended = () => {
        c.endedAt ??= t.offset;
        settle(tracked);
      };
      t.once("end", ended).once("close", ended);
      return t;
    };
    const stdout = tail("stdout", record.stdoutFile, record.stdoutOffset);
    const stderr = tail("stderr", record.stderrFile, record.stderrOffset);
    void exited.then(() => {
      tracked.exited = true;
      settle(tracked);
    });
    return { tracked, stdout, stderr };
  };

  /**
   * Reads what a run whose process is gone left unread into the log sink,
   * then drops its record and capture files. Says whether there was output
   * to read, and whether all of it got written (else the record is kept).
   */
  const drain = async (record: ProcessRecord): Promise<{ read: boolean; complete: boolean }> => {
    const streams: ["stdout" | "stderr", string | undefined, number][] = [
      ["stdout", record.stdoutFile, record.stdoutOffset],
      ["stderr", record.stderrFile, record.stderrOffset],
    ];
    let complete = true;
    let read = false;
    for (const [stream, file, from] of streams) {
      if (!file || fileSize(file) <= from) continue;
      read = true;
      let acked = from;
      let recorded = from;
      const key = stream === "stdout" ? "stdoutOffset" : "stderrOffset";
      // Recorded as it goes, as for a live run: a crash during a long drain repeats no more than that would.
      const onWritten = (o: number): void => {
        acked = Math.max(acked, o);
        if (acked - recorded < recordEvery) return;
        record[key] = recorded = acked;
        book.put(record);
      };
      const t = createFileTail(file, { clock, from, until: Promise.resolve(), onWritten });
      try {
        if (options.logSink) await options.logSink.attach(record.unit, stream, t, { onWritten: (n) => t.acknowledgeWritten(n) });
        else {
          t.resume();
          await new Promise((r) => t.once("end", r).once("close", r));
          acked = t.offset;
        }
      } catch (e) {
        warn(`output of unit "${record.unit}" left by the previous master could not be written to its log: ${(e as Error).message}; kept for the next start`);
      }
      if (acked < t.offset || t.readableEnded === false) complete = false;
      record[key] = acked;
    }
    if (!complete) {
      book.put(record);
      return { read, complete };
    }
    book.remove(record.unit);
    if (record.stdoutFile) rmSync(record.stdoutFile, { force: true });
    if (record.stderrFile) rmSync(record.stderrFile, { force: true });
    return { read, complete };
  };

  const adopt = (record: ProcessRecord): GroupProcess => {
    let swept = false;
    const exited: Promise<GroupExit> = (async () => {
      // Not our child any more: there is no exit status to collect, only absence to notice.
      while (sameProcess(record.pid, record.startTime, record.bootId)) await clock.sleep(100);
      const survivors = await sweepGroup(record.pid, 5000, clock);
      swept = true;
      return { code: null, signal: null, survivors };
    })();
    const { stdout, stderr } = track(record, exited);
    return {
      pid: record.pid,
      pgid: record.pid,
      stdout,
      stderr,
      warnings: [`adopted pid ${record.pid} from the previous master; its exit status will not be known (its exit counts as "unknown", which on-failure restarts)`],
      exited,
      signalGroup: (signal) => !swept && sameProcess(record.pid, record.startTime, record.bootId) && signalGroup(record.pid, signal),
    };
  };

  return {
    async spawn(request: SpawnRequest) {
      const unit = unitOfEnv(request.env);
      if (!unit) return base.spawn(request);
      // An ended run whose files are being removed right now: the new record is written after that, never before.
      const removal = removing.get(unit);
      if (removal) await removal;
      const waiting = pending.get(unit);
      if (waiting) {
        pending.delete(unit);
        if (sameProcess(waiting.pid, waiting.startTime, waiting.bootId)) return adopt(waiting);
      }
      const env = { ...request.env, [OWNER_ENV]: options.owner };
      // A record still kept (output not all in the log yet) says where reading goes on; else every byte
      // of an existing capture file is in the log already. The file is appended to, never truncated.
      // An ended run whose removal is still queued: it is called off, and this run's output follows its own in the file.
      const previous = ended.get(unit);
      if (previous) ended.delete(unit);
      const current = live.get(unit) ?? previous;
      const prior = waiting ?? (current ? { ...current.record } : undefined) ?? book.get(unit);
      if (current) {
        const out = current.captures.find((c) => c.stream === "stdout");
        const err = current.captures.find((c) => c.stream === "stderr");
        if (prior && out) prior.stdoutOffset = out.acked;
        if (prior && err) prior.stderrOffset = err.acked;
      }
      const dir = request.stdout === "capture" || request.stderr === "capture" ? captureDirOf(unit) : logDir;
      const files = {
        stdoutFile: request.stdout === "capture" ? join(dir, `${unit}.stdout`) : undefined,
        stderrFile: request.stderr === "capture" ? join(dir, `${unit}.stderr`) : undefined,
      };
      const offset = (file: string | undefined, stream: "stdout" | "stderr"): number => {
        if (!file) return 0;
        const kept = prior?.[stream === "stdout" ? "stdoutFile" : "stderrFile"] === file ? prior[stream === "stdout" ? "stdoutOffset" : "stderrOffset"] : undefined;
        return kept ?? fileSize(file);
      };
      const record: ProcessRecord = { unit, pid: 0, startTime: -1, ...files, stdoutOffset: offset(files.stdoutFile, "stdout"), stderrOffset: offset(files.stderrFile, "stderr") };
      // Written before the spawn: a crash before the pid is known still leaves where this run's output starts.
      if (current) current.superseded = true;
      book.put(record);
      const fds = {
        ...(files.stdoutFile ? { stdoutFd: openSync(files.stdoutFile, "a", 0o600) } : {}),
        ...(files.stderrFile ? { stderrFd: openSync(files.stderrFile, "a", 0o600) } : {}),
      };
      let proc: GroupProcess;
      try {
        proc = await base.spawn({ ...request, env, ...fds });
      } catch (e) {
        // Nothing ran: what was kept before stays as it was (an ended run's removal is queued again).
        if (prior) book.put(prior);
        else book.remove(unit);
        if (current) current.superseded = false;
        if (previous) {
          ended.set(unit, previous);
          batch ??= clock.setTimer(REMOVE_AFTER_MS, removeEnded);
        }
        throw e;
      } finally {
        if (fds.stdoutFd !== undefined) closeSync(fds.stdoutFd);
        if (fds.stderrFd !== undefined) closeSync(fds.stderrFd);
      }
      const { tracked, stdout, stderr } = track(record, proc.exited);
      if (unrecorded.size === 0) setImmediate(recordPids);
      unrecorded.set(tracked, proc.pid);
      return { ...proc, stdout, stderr };
    },

    async recover(policy, wanted, gracefulMs = 5000) {
      const report: RecoveryReport = { adoptable: [], stopped: [], drained: [] };
      const records = book.load((file, e) => warn(`unreadable process record ${file}: ${e.message}`));
      const alive = (r: ProcessRecord) => r.pid > 0 && sameProcess(r.pid, r.startTime, r.bootId);
      const known = new Set(records.filter(alive).map((r) => r.pid));
      const adopting = policy === "adopt" ? records.filter((r) => alive(r) && wanted(r.unit)).map((r) => r.pid) : [];
      // A crash between spawn and record leaves a marked process nobody recorded: never keep two.
      // Stopped first, so the output it wrote is complete when its unit's record is drained below.
      // All at once: each may take its whole graceful time.
      const strays = markedLeaders(options.owner).filter(
        // A process that left the group of a unit being re-adopted (setsid) but shares its cgroup stays with it.
        (p) => !known.has(p.pid) && !(options.sameUnit && adopting.some((pid) => options.sameUnit!(pid, p.pid))),
      );
      await Promise.all(strays.map((p) => stopLeader(p.pid, p.startTime, gracefulMs, clock)));
      report.stopped.push(...strays.map((p) => p.pid));
      for (const r of records) {
        if (alive(r)) {
          if (policy === "adopt" && wanted(r.unit) && !pending.has(r.unit)) {
            pending.set(r.unit, r);
            report.adoptable.push(r.unit);
            continue;
          }
          await stopLeader(r.pid, r.startTime, gracefulMs, clock, r.bootId);
          report.stopped.push(r.pid);
        }
        const { read, complete } = await drain(r);
        if (read && complete) report.drained.push(r.unit);
      }
      // A capture file with no record was read to its end (its record is removed before it).
      const kept = new Set(book.load().flatMap((r) => [r.stdoutFile, r.stderrFile]));
      for (const dir of captureDirs) {
        for (const name of safeReaddir(dir)) {
          const file = join(dir, name);
          if ((name.endsWith(".stdout") || name.endsWith(".stderr")) && !kept.has(file)) rmSync(file, { force: true });
        }
      }
      return report;
    },

    async dropUnclaimed(gracefulMs = 5000) {
      const stopped: number[] = [];
      for (const [unit, r] of pending) {
        pending.delete(unit);
        if (r.pid > 0) await stopLeader(r.pid, r.startTime, gracefulMs, clock, r.bootId);
        await drain(r);
        stopped.push(r.pid);
      }
      return stopped;
    },

    forget(unit) {
      const t = live.get(unit);
      if (t && !t.exited) throw new HsuError("failed_precondition", "the unit's process still runs", { unit });
      if (t && !t.done) throw new HsuError("failed_precondition", "the unit's output is not all in its log yet", { unit });
      book.remove(unit);
    },

    async idle() {
      // A run may end while an earlier batch is being removed: loop until nothing is queued or in flight.
      for (let i = 0; i < 1000 && (ended.size > 0 || removing.size > 0); i++) {
        if (ended.size > 0) {
          batch?.cancel();
          removeEnded();
        }
        await batchDone;
      }
    },
  };
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
