import { isUnitState, type UnitState } from "../daemon/state.ts";
import { paint, useColor, type Color } from "./color.ts";

export { paint, useColor, type Color } from "./color.ts";

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const visible = (s: string) => s.replace(ANSI, "").length;

/** Lays rows out in aligned columns; numbers in `right` columns align right. */
export function table(header: string[], rows: string[][], opts: { right?: number[]; color?: boolean } = {}): string {
  const widths = header.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ""))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const pad = " ".repeat(widths[i]! - visible(c));
        return opts.right?.includes(i) ? pad + c : c + pad;
      })
      .join("  ")
      .trimEnd();
  return [paint(line(header), "bold", opts.color ?? false), ...rows.map(line)].join("\n");
}

// Green is doing its job, yellow is on its way, cyan waits by design, red needs a person.
const stateColors: Record<UnitState, Color> = {
  running: "green",
  ready: "green",
  attached: "green",
  starting: "yellow",
  restarting: "yellow",
  backoff: "yellow",
  stopping: "yellow",
  killing: "yellow",
  idle: "cyan",
  scheduled: "cyan",
  stopped: "gray",
  exited: "gray",
  detached: "gray",
  closed: "gray",
  failed: "red",
  gone: "red",
};

/** The colour a unit state is shown in (gray for a state this CLI does not know, from a newer master). */
export function stateColor(state: string): Color {
  return isUnitState(state) ? stateColors[state] : "gray";
}

/** 1536 -> "1.5KiB". */
export function formatBytes(n: number): string {
  if (!n) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)}${units[i]}`;
}

/** 93_000 -> "1m33s". */
export function formatDuration(ms: number): string {
  if (ms < 0 || !Number.isFinite(ms)) return "-";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

/** "in 4s" for a time ahead of `now`, "3m12s ago" for one behind. */
export function relativeTime(at: number, now: number): string {
  const d = at - now;
  if (d >= 0 && d < 1000) return "in <1s";
  if (d < 0 && d > -1000) return "just now";
  return d > 0 ? `in ${formatDuration(d)}` : `${formatDuration(-d)} ago`;
}

/** A live status line on a terminal; other output goes through `log` so it never lands inside the spinner. */
export interface Spinner {
  update(text: string): void;
  /** Writes a whole line above the spinner (to `out`, default the spinner's own stream). */
  log(line: string, out?: NodeJS.WritableStream): void;
  stop(final?: string): void;
}

/** A spinner on a terminal line; on a pipe it draws nothing and only prints lines. */
export function spinner(text: string, stream: NodeJS.WriteStream = process.stderr): Spinner {
  if (!stream.isTTY) {
    return { update() {}, log: (line, out = stream) => void out.write(`${line}\n`), stop: (final) => void (final && stream.write(`${final}\n`)) };
  }
  const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
  let i = 0;
  let current = text;
  let stopped = false;
  const draw = () => stream.write(`\r\x1b[2K${paint(frames[i++ % frames.length]!, "cyan", useColor(stream))} ${current}`);
  draw();
  // A forgotten spinner must not keep the process alive.
  const timer = setInterval(draw, 80).unref();
  return {
    update: (t) => void (current = t),
    log(line, out = stream) {
      if (stopped) return void out.write(`${line}\n`);
      stream.write("\r\x1b[2K");
      out.write(`${line}\n`);
      draw();
    },
    stop(final) {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      stream.write(`\r\x1b[2K${final ? `${final}\n` : ""}`);
    },
  };
}
