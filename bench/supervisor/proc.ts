// /proc readings shared by every side of the supervisor benchmark.
import { createReadStream, readdirSync, readFileSync } from "node:fs";

// USER_HZ is 100 on every Linux build Node supports.
const ticksPerSecond = 100;

/** Resident set size of one process, in KiB (0 when it is gone). */
export function rssKib(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** User + system CPU time of one process so far, in milliseconds. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

/** Direct children of a process (every thread's list), from /proc/<pid>/task/<tid>/children. */
export function childPids(pid: number): Set<number> {
  const out = new Set<number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      for (const p of readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ")) if (p.trim()) out.add(Number(p));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** The process's command name (/proc/<pid>/comm), or "" when it is gone. */
export function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Counts newline-terminated lines in a file without loading it whole. */
export async function countLines(path: string): Promise<number> {
  let n = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw e;
  }
  return n;
}

/** Polls `check` every `everyMs` until it returns a value or `timeoutMs` passes (then undefined). */
export async function pollUntil<T>(check: () => T | undefined, timeoutMs: number, everyMs = 1): Promise<T | undefined> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (performance.now() > end) return undefined;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN;
}
