import { readFileSync } from "node:fs";
import { isRunning, readStatSync } from "./proc.ts";

/**
 * One process, named so that neither pid reuse nor a reboot can make another
 * process pass for it: the pid, its start time (field 22 of /proc/PID/stat,
 * in clock ticks since boot) and the kernel's boot id. This is what the
 * master writes when it records a unit's process and what it checks before
 * it adopts, signals or stops a recorded process again.
 */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTime: number;
  /** /proc/sys/kernel/random/boot_id when the process was recorded; absent in records written before it was kept. */
  readonly bootId?: string;
}

let cachedBootId: string | undefined;

/** The running kernel's boot id (a fresh UUID at every boot); "" where the host does not expose one. */
export function currentBootId(): string {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
      cachedBootId = "";
    }
  }
  return cachedBootId;
}

/** The identity of live process `pid`, or undefined when it is gone (or a zombie). */
export function identify(pid: number): ProcessIdentity | undefined {
  const stat = readStatSync(pid);
  return isRunning(stat) ? { pid, startTime: stat.startTime, bootId: currentBootId() } : undefined;
}

/**
 * Whether the recorded process still runs: same pid, same start time, and
 * the same boot (after a reboot a new process may have both the pid and the
 * start time by chance; it is never taken for the recorded one).
 */
export function isSameProcess(id: ProcessIdentity): boolean {
  if (id.pid <= 0) return false;
  if (id.bootId !== undefined && id.bootId !== currentBootId()) return false;
  const stat = readStatSync(id.pid);
  return isRunning(stat) && stat.startTime === id.startTime;
}
