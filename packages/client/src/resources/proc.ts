import { readdirSync, readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";

/** One line of /proc/<pid>/stat, the fields the resource code needs. */
export interface ProcStat {
  pid: number;
  /** The executable name (field 2, without the parentheses), as in /proc/<pid>/comm. */
  comm: string;
  /** Single-letter state (R, S, D, Z, X, ...). */
  state: string;
  ppid: number;
  /** Process group id (field 5). */
  pgid: number;
  /** User + system CPU time in clock ticks (fields 14 + 15). */
  cpuTicks: number;
  threads: number;
  /** Start time in clock ticks after boot (field 22): with the pid, identifies a process across pid reuse. */
  startTime: number;
  /** A kernel thread (PF_KTHREAD in the flags, field 9): it has no memory of its own, so no environment or command line. */
  kernelThread: boolean;
}

/** The kernel's per-task flag for a kernel thread. */
const PF_KTHREAD = 0x00200000;

/** The kernel's USER_HZ; it is 100 on every mainstream Linux architecture. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** True for the errors that mean "the process went away (or hid) while we read it". */
export function isVanishedError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOENT" || code === "ESRCH" || code === "EACCES" || code === "EPERM";
}

/**
 * Parses /proc/<pid>/stat text. The comm field may itself contain spaces and
 * parentheses, so the fixed fields are located after the last ')'.
 */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3, so field N is rest[N - 3].
  const num = (field: number): number => Number(rest[field - 3]);
  const stat: ProcStat = {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0] ?? "?",
    ppid: num(4),
    pgid: num(5),
    cpuTicks: num(14) + num(15),
    threads: num(20),
    startTime: num(22),
    kernelThread: (num(9) & PF_KTHREAD) !== 0,
  };
  return Number.isFinite(stat.pid) && Number.isFinite(stat.startTime) ? stat : undefined;
}

/** Reads /proc/<pid>/stat; undefined when the process does not exist (any more). */
export async function readStat(pid: number, procRoot = "/proc"): Promise<ProcStat | undefined> {
  try {
    return parseStat(await readFile(`${procRoot}/${pid}/stat`, "utf8"));
  } catch (error) {
    if (isVanishedError(error)) return undefined;
    throw error;
  }
}

/** True when the process exists and is not a zombie (a zombie has finished running). */
export function isRunning(stat: ProcStat | undefined): stat is ProcStat {
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}

function pidsOf(entries: string[]): number[] {
  const pids: number[] = [];
  for (const name of entries) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids;
}

/** Pids of every process visible in /proc (one readdir). */
export async function listPids(procRoot = "/proc"): Promise<number[]> {
  return pidsOf(await readdir(procRoot));
}

/** Synchronous listPids, for the few callers that poll /proc synchronously (process-group sweeps). */
export function listPidsSync(procRoot = "/proc"): number[] {
  return pidsOf(readdirSync(procRoot));
}

/** Synchronous readStat: procfs files are tiny and in memory, so a sync read beats a thread-pool round trip. */
export function readStatSync(pid: number, procRoot = "/proc"): ProcStat | undefined {
  try {
    return parseStat(readFileSync(`${procRoot}/${pid}/stat`, "utf8"));
  } catch (error) {
    if (isVanishedError(error)) return undefined;
    throw error;
  }
}

/** Processes read between two yields to the event loop, so a scan never blocks it for long. */
const BATCH = 64;

/** Yields to the event loop. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The stat line of every process on the host, keyed by pid; processes that
 * vanish mid-scan are skipped. Reads synchronously in batches, yielding in between.
 */
export async function readProcTable(procRoot = "/proc"): Promise<Map<number, ProcStat>> {
  const pids = await listPids(procRoot);
  const table = new Map<number, ProcStat>();
  for (let i = 0; i < pids.length; i++) {
    if (i > 0 && i % BATCH === 0) await yieldToLoop();
    const stat = readStatSync(pids[i]!, procRoot);
    if (stat) table.set(stat.pid, stat);
  }
  return table;
}

/** Resident set size in pages (second field of /proc/<pid>/statm); 0 if the process is gone. */
export function readRssPagesSync(pid: number, procRoot = "/proc"): number {
  try {
    return Number(readFileSync(`${procRoot}/${pid}/statm`, "utf8").split(" ")[1]) || 0;
  } catch (error) {
    if (isVanishedError(error)) return 0;
    throw error;
  }
}

/** Number of open file descriptors; 0 when the process is gone or hidden from us. */
export function countOpenFdsSync(pid: number, procRoot = "/proc"): number {
  try {
    return readdirSync(`${procRoot}/${pid}/fd`).length;
  } catch (error) {
    if (isVanishedError(error)) return 0;
    throw error;
  }
}

/** The environment of a process as `NAME=value` entries; undefined if gone or not ours to read. A process caught inside execve is read again until its new program shows. */
export function readEnvironSync(pid: number, procRoot = "/proc"): string[] | undefined {
  const deadline = performance.now() + EXEC_SETTLE_MS;
  let emptyWithCommand = 0;
  for (;;) {
    const environ = readProcFileSync(pid, "environ", procRoot);
    if (environ === undefined) return undefined;
    if (environ !== "") return environ.split("\0").filter(Boolean);
    if (performance.now() >= deadline) return [];
    const stat = readStatSync(pid, procRoot);
    if (stat === undefined) return undefined;
    if (stat.kernelThread || !isRunning(stat)) return []; // never settles: no memory of its own, or finished
    const cmdline = readProcFileSync(pid, "cmdline", procRoot);
    if (cmdline === undefined) return undefined;
    if (cmdline === "") {
      pauseSync(1); // inside execve: wait for the new program to show
      continue;
    }
    // A command line but no environment: empty for good, unless an exec ended
    // between the two reads (then the next read shows it) or began again.
    const again = readProcFileSync(pid, "environ", procRoot);
    if (again === undefined) return undefined;
    if (again !== "") return again.split("\0").filter(Boolean);
    if (++emptyWithCommand >= 3) return [];
  }
}

/**
 * How long a read waits for a process inside execve to show its new
 * program's environment. While the kernel swaps the old program for the
 * new one there is a moment where /proc shows neither environment nor
 * command line; a reader that took that for "no marker" would miss a live
 * unit (a recovery keeping a second copy of it).
 */
const EXEC_SETTLE_MS = 2000;

/** A /proc file of one process as text; undefined when the process is gone or hidden. */
function readProcFileSync(pid: number, file: string, procRoot: string): string | undefined {
  try {
    return readFileSync(`${procRoot}/${pid}/${file}`, "latin1");
  } catch (error) {
    if (isVanishedError(error)) return undefined;
    throw error;
  }
}

const pauseCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this thread for `ms` milliseconds (a synchronous reader's short wait). */
function pauseSync(ms: number): void {
  Atomics.wait(pauseCell, 0, 0, ms);
}

/** The command line with NUL separators turned into spaces; undefined if gone. */
export async function readCmdline(pid: number, procRoot = "/proc"): Promise<string | undefined> {
  try {
    const raw = await readFile(`${procRoot}/${pid}/cmdline`, "utf8");
    return raw.replace(/\0+$/, "").split("\0").join(" ");
  } catch (error) {
    if (isVanishedError(error)) return undefined;
    throw error;
  }
}

/** Seconds since boot, from /proc/uptime. */
export async function readUptimeSeconds(procRoot = "/proc"): Promise<number> {
  const text = await readFile(`${procRoot}/uptime`, "utf8");
  return Number(text.split(" ")[0]);
}

let pageSize: Promise<number> | undefined;

/**
 * The memory page size, read once from the KernelPageSize line of our own
 * smaps (no `getconf` subprocess); 4096 when that file is unavailable.
 */
export function getPageSize(): Promise<number> {
  pageSize ??= readFile("/proc/self/smaps", "utf8").then(
    (text) => {
      const m = /KernelPageSize:\s+(\d+) kB/.exec(text);
      return m ? Number(m[1]) * 1024 : 4096;
    },
    () => 4096,
  );
  return pageSize;
}
