/** Where progress goes: a stream-like sink that may be a terminal. */
export interface ProgressSink {
  write(text: string): void;
  isTTY: boolean;
}

/** The clock progress runs on: now in ms, and a repeating tick that can be stopped. */
export interface ProgressClock {
  now(): number;
  every(ms: number, tick: () => void): () => void;
}

/** The real clock: the one place this package starts a repeating timer. */
export const systemClock: ProgressClock = {
  now: () => performance.now(),
  every: (ms, tick) => {
    const timer = setInterval(tick, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/** How often a long step says it is still running when stdout is not a terminal (CI logs). */
export const heartbeatMs = 30_000;

/** Formats a duration for a person: `850ms`, `12.3s`, `3m05s`. */
export function formatElapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** One running step as the user sees it. */
export interface StepProgress {
  /** Ends the step: prints `done in …` or `failed after …`. */
  end(ok: boolean): void;
  /** For output passed through while the step runs: clears a spinner line first. */
  beforeOutput(): void;
}

const frames = ["|", "/", "-", "\\"];

/**
 * Announces a step (what runs), keeps showing that it is alive - a spinner
 * with elapsed time on a terminal, a heartbeat line every `heartbeatMs`
 * otherwise - and reports the elapsed time when it ends.
 */
export function startStep(label: string, command: string, sink: ProgressSink, clock: ProgressClock = systemClock): StepProgress {
  const started = clock.now();
  const elapsed = () => formatElapsed(clock.now() - started);
  sink.write(`${label}: ${command}\n`);
  let spinning = false;
  let frame = 0;
  const stop = sink.isTTY
    ? clock.every(250, () => {
        spinning = true;
        sink.write(`\r${frames[frame++ % frames.length]} ${label} ${elapsed()}`);
      })
    : clock.every(heartbeatMs, () => sink.write(`  ${label} still running (${elapsed()})\n`));
  const clear = () => {
    if (spinning) sink.write("\r\x1b[2K");
    spinning = false;
  };
  return {
    beforeOutput: clear,
    end(ok) {
      stop();
      clear();
      sink.write(ok ? `  ${label} done in ${elapsed()}\n` : `  ${label} failed after ${elapsed()}\n`);
    },
  };
}

/** Keeps the last `max` lines of a stream of chunks, for a failure's output tail. */
export class OutputTail {
  private lines: string[] = [];
  private partial = "";
  private readonly max: number;

  constructor(max = 30) {
    this.max = max;
  }

  push(chunk: string): void {
    const parts = (this.partial + chunk).split(/\r?\n/);
    this.partial = parts.pop() ?? "";
    this.lines.push(...parts);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }

  /** The kept lines, trailing partial line included, blank lines at the ends dropped. */
  text(): string {
    const all = this.partial ? [...this.lines, this.partial] : [...this.lines];
    return all.slice(-this.max).join("\n").trim();
  }
}
