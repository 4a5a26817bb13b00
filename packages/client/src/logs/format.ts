import type { LogLine } from "./types.ts";

/**
 * One log-file record per line: `<ISO-8601 UTC time> <stream> <mark> <text>\n`,
 * e.g. `2026-11-26T11:22:33.123Z stdout | listening on :8080`. The mark is
 * `|` for a whole line (or the last piece of a cut one) and `+` for a piece
 * of an over-long line that continues in the next record, so the original
 * line is the concatenation of the texts up to and including the next `|`.
 */
export function formatLogRecord(line: LogLine): string {
  return `${new Date(line.time).toISOString()} ${line.stream} ${line.partial ? "+" : "|"} ${line.text}\n`;
}

/** Parses a record written by {@link formatLogRecord} (without its newline); undefined if it is not one. */
export function parseLogRecord(record: string): { time: number; stream: "stdout" | "stderr"; partial: boolean; text: string } | undefined {
  const m = /^(\S+) (stdout|stderr) ([|+]) /.exec(record);
  if (!m) return undefined;
  const time = Date.parse(m[1] as string);
  if (Number.isNaN(time)) return undefined;
  return { time, stream: m[2] as "stdout" | "stderr", partial: m[3] === "+", text: record.slice(m[0].length) };
}
