import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { HsuError } from "@hsu/client/hsu-error";
import type { UnitKind, UnitStatus } from "@hsu/proto";
import { readFileSync } from "node:fs";
import { isUnitState, stateFromWire, unitStates, type UnitState } from "../daemon/state.ts";
import { formatBytes, formatDuration, paint, relativeTime, stateColor, table, type Color } from "./format.ts";

// By the enum's values, so `hsu ps` need not boot the generated descriptors for its names (status.test.ts checks them).
const kindName: Partial<Record<UnitKind, string>> = {
  1: "managed",
  2: "unmanaged",
  3: "integrated",
  4: "pool",
  5: "scheduled",
};

/** A Timestamp as ms since the epoch (what `timestampDate` computes, without loading the well-known types). */
const timestampMs = (t: Timestamp): number => Number(t.seconds) * 1000 + Math.round(t.nanos / 1_000_000);

/** One unit as `--json` prints it: stable field names, ISO times, null for "none". */
export interface StatusJson {
  id: string;
  kind: string;
  state: string;
  pid: number | null;
  startedAt: string | null;
  uptimeMs: number | null;
  restarts: number;
  /** null when the process was never sampled (or none runs). */
  cpuPercent: number | null;
  rssBytes: number | null;
  health: string | null;
  address: string | null;
  lastExit: string | null;
  pool: string | null;
  description: string | null;
  nextRun: string | null;
}

/**
 * The units `hsu ps <name...>` shows: a unit or replica id names itself, a
 * pool name its replicas; no names, every unit. An unknown name is an error
 * that names it (a typo must not look like an empty deployment).
 */
export function selectUnits(units: UnitStatus[], names: string[]): UnitStatus[] {
  if (!names.length) return units;
  const unknown = names.filter((n) => !units.some((u) => u.id === n || u.pool === n));
  if (unknown.length) {
    const list = unknown.map((n) => `"${n}"`).join(", ");
    throw new HsuError("not_found", `no unit ${list}; \`hsu ps\` lists them`, unknown.length === 1 ? { unit: unknown[0]! } : {});
  }
  return units.filter((u) => names.includes(u.id) || names.includes(u.pool));
}

/** How the table learns when a process really started (adopted processes predate the master). */
export type StartTimeOf = (pid: number) => number | undefined;

/** Converts a unit's status to its JSON form; `now` and `startTimeOf` are injected so tests need no clock. */
export function statusJson(u: UnitStatus, now: number = Date.now(), startTimeOf?: StartTimeOf): StatusJson {
  // The master reports when a process started; when it could not tell (an adopted process), ask /proc.
  const started = u.startedAt ? timestampMs(u.startedAt) : u.pid ? startTimeOf?.(u.pid) : undefined;
  return {
    id: u.id,
    kind: kindName[u.kind] ?? "unknown",
    state: stateFromWire(u.unitState, u.state) ?? u.state,
    pid: u.pid || null,
    startedAt: started !== undefined ? new Date(started).toISOString() : null,
    uptimeMs: started !== undefined && u.pid ? Math.max(0, now - started) : null,
    restarts: u.restarts,
    cpuPercent: u.usageSampled ? Math.round(u.cpuPercent * 10) / 10 : null,
    rssBytes: u.usageSampled ? Number(u.rssBytes) : null,
    health: u.health || null,
    address: u.address || null,
    lastExit: u.lastExit || null,
    pool: u.pool || null,
    description: u.description || null,
    nextRun: u.nextRun ? new Date(timestampMs(u.nextRun)).toISOString() : null,
  };
}

/** Options of {@link psTable}. */
export interface PsTableOptions {
  color: boolean;
  /** Adds ADDRESS, LAST EXIT and DESCRIPTION. */
  wide?: boolean;
  now?: number;
  startTimeOf?: StartTimeOf;
  /** The terminal's width: a --wide DESCRIPTION is cut to fit instead of wrapping. */
  maxWidth?: number;
}

// States whose row carries the last exit, because it is why the unit is there.
const showsLastExit: ReadonlySet<string> = new Set<UnitState>(["failed", "backoff", "gone"]);
const healthColor = (h: string): Color => (h === "healthy" ? "green" : h === "unhealthy" ? "red" : "gray");
// "code 1" reads as "exit 1" next to a state; why a process never started is for `ps --wide` and `hsu logs`.
const exitText = (lastExit: string) => (lastExit.startsWith("not started") ? "not started" : lastExit.replace(/^code /, "exit "));

/** The `hsu ps` table: a failed unit is red with its last exit, a cron job shows when it runs next. */
export function psTable(units: UnitStatus[], optionsOrColor: PsTableOptions | boolean): string {
  const options = typeof optionsOrColor === "boolean" ? { color: optionsOrColor } : optionsOrColor;
  const now = options.now ?? Date.now();
  const { color } = options;
  const rows = units.map((u) => {
    const j = statusJson(u, now, options.startTimeOf);
    const troubled = showsLastExit.has(j.state) && j.lastExit;
    const state = troubled ? `${j.state} (${exitText(j.lastExit!)})` : j.state;
    const time =
      j.uptimeMs !== null ? formatDuration(j.uptimeMs) : j.nextRun ? `next ${relativeTime(Date.parse(j.nextRun), now)}` : j.state === "idle" ? "on demand" : "-";
    const row = [
      paint(j.id, "bold", color),
      paint(j.kind, "gray", color),
      paint(state, stateColor(j.state), color),
      j.pid ? String(j.pid) : "-",
      time,
      j.restarts ? paint(String(j.restarts), "yellow", color) : "0",
      j.cpuPercent !== null ? `${j.cpuPercent.toFixed(1)}%` : "-",
      j.rssBytes !== null ? formatBytes(j.rssBytes) : "-",
      j.health ? paint(j.health, healthColor(j.health), color) : "-",
    ];
    if (options.wide) row.push(j.address ?? "-", j.lastExit ? j.lastExit.replace(/^code /, "exit ") : "-", j.description ?? "");
    return row;
  });
  const header = ["UNIT", "KIND", "STATE", "PID", "UPTIME", "RESTARTS", "CPU", "RSS", "HEALTH"];
  if (options.wide) header.push("ADDRESS", "LAST EXIT", "DESCRIPTION");
  const out = table(header, rows, { right: [3, 5, 6, 7], color });
  const widest = Math.max(...out.split("\n").map((l) => l.replace(/\x1b\[[0-9;]*m/g, "").length));
  if (!options.wide || !options.maxWidth || widest <= options.maxWidth) return out;
  const overflow = widest - options.maxWidth;
  const longest = Math.max(...rows.map((r) => r[11]!.length));
  const keep = Math.max(11, longest - overflow);
  for (const r of rows) if (r[11]!.length > keep) r[11] = `${r[11]!.slice(0, keep - 1).trimEnd()}…`;
  return table(header, rows, { right: [3, 5, 6, 7], color });
}


/** "8 units: 6 running, 1 idle, 1 failed" - the line under a table, so trouble shows without reading every row. */
export function summaryLine(units: { state: string }[], color: boolean): string {
  const counts = new Map<string, number>();
  for (const u of units) counts.set(u.state, (counts.get(u.state) ?? 0) + 1);
  const states = [...counts.keys()].sort((a, b) => rank(a) - rank(b));
  const parts = states.map((s) => paint(`${counts.get(s)} ${s}`, stateColor(s), color));
  return `${units.length} unit${units.length === 1 ? "" : "s"}${parts.length ? `: ${parts.join(", ")}` : ""}`;
}
// The order of the one state list; a state this CLI does not know goes last.
const rank = (s: string) => (isUnitState(s) ? unitStates.indexOf(s) : unitStates.length);

/**
 * When a local process started, from /proc (Linux), in ms since the epoch.
 * An adopted process may have run for days before the master found it; the
 * master's own clock only knows when it attached.
 */
export function procStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses; fields after its last ")" are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]);
    const btime = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1];
    if (!Number.isFinite(ticks) || !btime) return undefined;
    // USER_HZ is 100 on every Linux architecture Node.js supports.
    return Number(btime) * 1000 + ticks * 10;
  } catch {
    return undefined;
  }
}
