import { readFileSync } from "node:fs";
import { connect } from "node:net";
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
 * Resolves true once a connection to the Unix socket at `path` is accepted
 * (a standalone unit's readiness: the file alone appears at bind(), before
 * listen(), when a connect is still refused), false if `exited` resolves
 * first or `timeoutMs` passes.
 */
export async function waitForListening(path: string, exited: Promise<unknown>, timeoutMs = 30_000): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  const until = Date.now() + timeoutMs;
  while (!gone && Date.now() < until) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect(path);
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => (socket.destroy(), resolve(false)));
    });
    if (accepted) return true;
    await sleep(25);
  }
  return false;
}
