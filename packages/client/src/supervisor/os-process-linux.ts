import { readdirSync, readFileSync } from "node:fs";

/** One process found in /proc. */
export interface ProcEntry {
  pid: number;
  ppid: number;
  pgid: number;
  /** The kernel's one-letter state: R, S, D, Z (zombie), ... */
  state: string;
}

/** Parses the fields we need from the text of /proc/<pid>/stat. */
export function parseProcStat(text: string): ProcEntry | undefined {
  // The command name is in parentheses and may itself contain ") ", so split after the last one.
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const pid = Number.parseInt(text, 10);
  const rest = text.slice(close + 2).split(" ");
  const [state, ppid, pgid] = [rest[0], Number(rest[1]), Number(rest[2])];
  if (!state || !Number.isInteger(pid) || !Number.isInteger(pgid)) return undefined;
  return { pid, ppid, pgid, state };
}

/**
 * Every process of process group `pgid`, read from /proc. Processes vanish while
 * we read; a missing stat file just means that one is gone.
 */
export function listGroupMembers(pgid: number): ProcEntry[] {
  const found: ProcEntry[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited between readdir and read
    }
    const entry = parseProcStat(text);
    if (entry && entry.pgid === pgid) found.push(entry);
  }
  return found;
}

/**
 * Live members of `pgid`: zombies are already dead (they only wait for their
 * parent, or init, to reap them) and cannot be signalled any further.
 */
export function liveGroupMembers(pgid: number): number[] {
  return listGroupMembers(pgid)
    .filter((e) => e.state !== "Z" && e.state !== "X")
    .map((e) => e.pid);
}
