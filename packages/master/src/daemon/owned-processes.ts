import { isRunning, listPidsSync, OWNER_ENV, readEnvironSync, readStatSync } from "@hsu/client";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ownerMark } from "./state-dir.ts";

/** A live process that belongs to a state dir's master. */
export interface OwnedProcess {
  readonly pid: number;
  /** The unit it was started for, when known. */
  readonly unit: string | undefined;
}

const unitOfEnv = (env: string[]) => {
  const get = (k: string) => env.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1);
  const pool = get("HSU_POOL");
  return pool !== undefined ? `${pool}-${get("HSU_INDEX")}` : get("HSU_UNIT_ID");
};

/**
 * Every live (not zombie) process of a state dir's units: those whose
 * environment carries the state dir's owner marker (HSU_OWNER, inherited by
 * their children too), and those its process records (`units/*.json`) name
 * with a matching start time. What `hsu down` checks is gone at the end.
 */
export function ownedProcesses(stateDir: string): OwnedProcess[] {
  const found = new Map<number, OwnedProcess>();
  let mark: string;
  try {
    mark = `${OWNER_ENV}=${ownerMark(stateDir)}`;
  } catch {
    return []; // no state dir: nothing was ever started from it
  }
  for (const pid of listPidsSync()) {
    if (pid === process.pid) continue;
    const env = readEnvironSync(pid);
    if (env?.includes(mark) && isRunning(readStatSync(pid))) found.set(pid, { pid, unit: unitOfEnv(env) });
  }
  let records: string[] = [];
  try {
    records = readdirSync(join(stateDir, "units")).filter((f) => f.endsWith(".json"));
  } catch {
    // No records.
  }
  for (const f of records) {
    try {
      const r = JSON.parse(readFileSync(join(stateDir, "units", f), "utf8")) as { unit: string; pid: number; startTime: number };
      const stat = readStatSync(r.pid);
      if (isRunning(stat) && stat.startTime === r.startTime && !found.has(r.pid)) found.set(r.pid, { pid: r.pid, unit: r.unit });
    } catch {
      // Torn or foreign file: the marker scan covers its process.
    }
  }
  return [...found.values()].sort((a, b) => a.pid - b.pid);
}
