import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isSameProcess } from "../resources/identity.ts";
import { isRunning, listPidsSync, readEnvironSync, readStatSync } from "../resources/proc.ts";
import type { ProcessRecord } from "./process-book.ts";

/** The environment variable that marks a process as started by one master (its state dir). */
export const OWNER_ENV = "HSU_OWNER";

/** A live process whose environment carries a master's owner marker (children inherit it). */
export interface MarkedProcess {
  readonly pid: number;
  /** The unit it was started for (a pool replica's own id), when its environment says. */
  readonly unit: string | undefined;
  readonly startTime: number;
  /** Leads its own process group: a unit's process, not one of its children. */
  readonly leader: boolean;
}

/** The unit a process was started for, from the contract's variables: one rule for every reader. */
export function unitOfEnv(env: Record<string, string | undefined>): string | undefined {
  if (env.HSU_POOL !== undefined && env.HSU_INDEX !== undefined) return `${env.HSU_POOL}-${env.HSU_INDEX}`;
  return env.HSU_UNIT_ID;
}

/** Every live (not zombie) process carrying `owner`'s marker, from one pass over /proc. */
export function markedProcesses(owner: string): MarkedProcess[] {
  const out: MarkedProcess[] = [];
  const needle = `${OWNER_ENV}=${owner}`;
  for (const pid of listPidsSync()) {
    if (pid === process.pid) continue;
    try {
      const environ = readEnvironSync(pid);
      if (!environ?.includes(needle)) continue;
      const stat = readStatSync(pid);
      if (!isRunning(stat)) continue;
      const env = Object.fromEntries(environ.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
      out.push({ pid, unit: unitOfEnv(env), startTime: stat.startTime, leader: stat.pgid === pid });
    } catch {
      // Gone or not ours to read.
    }
  }
  return out;
}

/** The process records in `<state dir>/units/`, read without creating anything; an unreadable one is reported, not fatal. */
export function readProcessRecords(stateDir: string, onBad: (file: string, error: Error) => void = () => {}): ProcessRecord[] {
  const dir = join(stateDir, "units");
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: ProcessRecord[] = [];
  for (const name of names) {
    if (!name.endsWith(".json")) continue;
    try {
      out.push(JSON.parse(readFileSync(join(dir, name), "utf8")) as ProcessRecord);
    } catch (e) {
      onBad(join(dir, name), e as Error);
    }
  }
  return out;
}

/**
 * Every live process of a state dir's units: those carrying its owner
 * marker, and those its process records name (same pid, start time and
 * boot). What `hsu down` checks is gone at the end.
 */
export function ownedProcesses(stateDir: string, owner: string): { pid: number; unit: string | undefined }[] {
  const found = new Map(markedProcesses(owner).map((p) => [p.pid, { pid: p.pid, unit: p.unit }]));
  for (const r of readProcessRecords(stateDir)) {
    if (!found.has(r.pid) && isSameProcess(r)) found.set(r.pid, { pid: r.pid, unit: r.unit });
  }
  return [...found.values()].sort((a, b) => a.pid - b.pid);
}
