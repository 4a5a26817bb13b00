import { readFileSync } from "node:fs";

/** Reads the live parent pid (Node's process.ppid is fixed at start-up). */
function currentParentPid(): number | undefined {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    // Field 4, after the command name in parentheses (which may hold spaces).
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[1]);
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Calls `onGone` once when the master process is gone: it no longer exists,
 * or this process was re-parented (the master died and something else
 * adopted us). Polls every `intervalMs`; returns a function that stops it.
 */
export function watchMaster(masterPid: number, onGone: (why: string) => void, intervalMs = 250): () => void {
  const parentAtStart = currentParentPid();
  const timer = setInterval(() => {
    let why: string | undefined;
    if (!alive(masterPid)) why = `master process ${masterPid} is gone`;
    else {
      const parent = currentParentPid();
      if (parent !== undefined && parentAtStart !== undefined && parent !== parentAtStart) {
        why = `re-parented from ${parentAtStart} to ${parent}: the master is gone`;
      }
    }
    if (why) {
      clearInterval(timer);
      onGone(why);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
