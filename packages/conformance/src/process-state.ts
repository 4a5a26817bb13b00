import { existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** True while `pid` is a live process (a zombie counts as gone: it has exited). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state follows the parenthesised command name, which may contain spaces.
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/**
 * Resolves true once `pid` is gone, false if it is still alive after
 * `timeoutMs`. Polls /proc: an orphaned process cannot be waited for.
 */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await sleep(25);
  }
  return !isAlive(pid);
}

/** SIGKILLs a process group, ignoring one that is already gone (test cleanup). */
export function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Resolves true once `path` exists (a unit's socket: its readiness signal
 * when no master is watching), false if `exited` resolves first.
 */
export async function waitForFile(path: string, exited: Promise<unknown>): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  while (!gone) {
    if (existsSync(path)) return true;
    await sleep(25);
  }
  return existsSync(path);
}

/**
 * Calls `call` until it resolves (true), the process exits, or `deadlineMs`
 * passes; then says which, with the last error - a readiness check that
 * tells a slow unit from a dead one.
 */
export async function untilAnswers(call: () => Promise<unknown>, exited: Promise<unknown>, deadlineMs: number): Promise<true | string> {
  let exit: unknown;
  let gone = false;
  void exited.then((code) => {
    gone = true;
    exit = code;
  });
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      await call();
      return true;
    } catch (e) {
      last = e;
    }
    if (gone) return `the unit exited (${String(exit)}) before it answered: ${(last as Error).message}`;
    if (Date.now() >= end) return `no answer within ${deadlineMs} ms: ${(last as Error).message}`;
    await sleep(50);
  }
}
