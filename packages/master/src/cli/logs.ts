import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { LogEntry } from "@hsu/proto";
import { connect as client, READ_TIMEOUT_MS } from "./client.ts";
import { paint, useColor } from "./format.ts";
import { usageError } from "./usage-error.ts";
import { createPrefixer } from "./prefix.ts";

/** `hsu logs [unit...]`. */
export async function runLogs(values: Record<string, string | boolean | undefined>, units: string[]): Promise<number> {
  // The config module (and its YAML parser) only when a duration is to be read.
  const sinceMs = values.since ? (await import("../config/fields.ts")).parseDuration(String(values.since)) : undefined;
  if (values.since && sinceMs === undefined) throw usageError("logs", `--since: expected a duration like "10m" or "1h30m", got "${values.since}"`, "[unit...]");
  if (values.tail !== undefined && !/^\d+$/.test(String(values.tail))) throw usageError("logs", `-n/--tail: expected a number of lines, got "${values.tail}"`, "[unit...]");
  const { c } = await client(values);
  const known = (await c.listUnits({}, { timeoutMs: READ_TIMEOUT_MS })).units.map((u) => u.id);
  const matches = (k: string, u: string) => k === u || k.startsWith(`${u}-`);
  const unknown = units.filter((u) => !known.some((k) => matches(k, u)));
  if (unknown.length) throw usageError("logs", `no unit ${unknown.map((u) => `"${u}"`).join(", ")}; units are: ${known.join(", ")}`, "[unit...]");
  const color = useColor();
  // One call up front so every prefix has its final width from the first line on.
  const prefix = createPrefixer(units.length ? known.filter((k) => units.some((u) => matches(k, u))) : known, color);
  const print = (entry: LogEntry) => {
    const time = entry.time ? timestampDate(entry.time) : undefined;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ unit: entry.unit, stream: entry.stream, time: time?.toISOString() ?? null, text: entry.text })}\n`);
      return;
    }
    const stamp = values.timestamps ? `${paint(time ? localTime(time) : "--:--:--.---", "gray", color)} ` : "";
    process.stdout.write(`${stamp}${prefix.format(entry.unit, entry.stream === "stderr")} ${entry.text}\n`);
  };
  const tail = values.tail !== undefined ? Number(values.tail) : sinceMs !== undefined ? 1_000_000 : 100;
  const since = sinceMs !== undefined ? { since: timestampFromMs(Date.now() - sinceMs) } : {};
  // The backlog comes from a plain read, which keeps the last N lines of EACH unit
  // (the follow stream's own backlog counts lines across all units); the follow
  // stream then replays recent lines, and the per-unit sequence skips what was shown.
  const shown = new Map<string, bigint>();
  for await (const { entry } of c.streamLogs({ units, follow: false, tail: Math.max(tail, 1), ...since })) {
    if (!entry) continue;
    shown.set(entry.unit, entry.seq);
    if (tail > 0) print(entry);
  }
  if (!values.follow) return 0;
  for await (const { entry } of c.streamLogs({ units, follow: true, tail: 10_000, ...since })) {
    if (!entry || entry.seq <= (shown.get(entry.unit) ?? -1n)) continue;
    shown.set(entry.unit, entry.seq);
    print(entry);
  }
  process.stderr.write(`${paint("hsu logs: the master stopped; no more lines", "gray", useColor(process.stderr))}\n`);
  return 0;
}

// "12:08:20.123" in the local zone: log lines are read against a wall clock.
const localTime = (d: Date) => `${d.toTimeString().slice(0, 8)}.${String(d.getMilliseconds()).padStart(3, "0")}`;
