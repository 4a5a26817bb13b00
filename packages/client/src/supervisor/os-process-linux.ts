import { isRunning, listPidsSync, readStatSync, type ProcStat } from "../resources/proc.ts";

/**
 * Every process of process group `pgid`, read from /proc (parsed by
 * resources/proc.ts, the one place that reads it). Processes vanish while we
 * read; a stat file that cannot be read just means that one is gone.
 */
export function listGroupMembers(pgid: number): ProcStat[] {
  const found: ProcStat[] = [];
  for (const pid of listPidsSync()) {
    let stat: ProcStat | undefined;
    try {
      stat = readStatSync(pid);
    } catch {
      continue; // exited between readdir and read
    }
    if (stat && stat.pgid === pgid) found.push(stat);
  }
  return found;
}

/**
 * Live members of `pgid`: zombies are already dead (they only wait for their
 * parent, or init, to reap them) and cannot be signalled any further.
 */
export function liveGroupMembers(pgid: number): number[] {
  return listGroupMembers(pgid)
    .filter(isRunning)
    .map((e) => e.pid);
}
