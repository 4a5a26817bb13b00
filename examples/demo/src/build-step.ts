// One long build step of the demo (a `go build`, a Python venv, a release
// `cargo build`) with progress: what runs and where, a "still running" line
// with the elapsed time and the step's latest output while it runs, its time
// when done, and the end of its output when it fails. Bounded: a step that
// runs past its deadline is stopped (its whole process group).
import { spawn } from "node:child_process";
import { createSystemClock, type Clock } from "@hsu/client";

/** A command to run for a step. */
export interface BuildStep {
  /** Shown before every line, e.g. "echo-rust: build". */
  readonly label: string;
  readonly command: readonly string[];
  readonly cwd: string;
  /** Shown after the command: where it runs, relative to the repository. */
  readonly where?: string;
}

/** Options of {@link runStep}. */
export interface StepOptions {
  /** The time source (the system clock by default; a fake one in tests). */
  clock?: Clock;
  /** Where progress lines go (stdout by default), one call per line. */
  write?: (line: string) => void;
  /** A "still running" line this often (default 15 s). */
  heartbeatMs?: number;
  /** Lines of output shown when the step fails (default 25). */
  tailLines?: number;
  /** The step is stopped past this (default 30 min: a first release build of Rust on 2 cores takes minutes). */
  timeoutMs?: number;
}

/** How a step ended. */
export interface StepResult {
  readonly ok: boolean;
  readonly ms: number;
  /** Why it failed ("exit 3", "killed by SIGTERM", "timed out after 1800 s", a spawn error). */
  readonly why?: string;
  /** The last lines of its stdout and stderr, in the order they were read (two pipes: not always the order written). */
  readonly tail: readonly string[];
}

// A line longer than this is cut: a tool that writes one endless line (a progress bar with \r) stays bounded.
const MAX_LINE = 400;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Runs one step and reports its progress; resolves with how it ended, never rejects. */
export function runStep(step: BuildStep, options: StepOptions = {}): Promise<StepResult> {
  const clock = options.clock ?? createSystemClock({ unref: true });
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const every = options.heartbeatMs ?? 15_000;
  const keep = options.tailLines ?? 25;
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  const say = (text: string) => write(`demo: ${step.label}: ${text}`);
  const started = clock.now();
  const tail: string[] = [];
  let partial = "";
  const push = (line: string) => {
    tail.push(line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}...` : line);
    if (tail.length > keep) tail.shift();
  };
  const take = (chunk: string) => {
    const parts = (partial + chunk).split(/\r?\n|\r/);
    partial = parts.pop()!.slice(-MAX_LINE);
    for (const p of parts) if (p.trim()) push(p);
  };

  say(`${step.command.join(" ")}${step.where ? ` (in ${step.where})` : ""}`);
  return new Promise<StepResult>((resolve) => {
    const child = spawn(step.command[0]!, step.command.slice(1), { cwd: step.cwd, stdio: ["ignore", "pipe", "pipe"], detached: true });
    child.stdout.setEncoding("utf8").on("data", take);
    child.stderr.setEncoding("utf8").on("data", take);
    let timedOut = false;
    let beat = clock.setTimer(every, function heartbeat() {
      const last = partial.trim() || tail[tail.length - 1]?.trim();
      say(`running, ${seconds(clock.now() - started)}${last ? `: ${last.slice(0, 120)}` : ""}`);
      beat = clock.setTimer(every, heartbeat);
    });
    const deadline = clock.setTimer(timeoutMs, () => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        // Already gone.
      }
    });
    let done = false;
    const finish = (why: string | undefined) => {
      if (done) return;
      done = true;
      beat.cancel();
      deadline.cancel();
      if (partial.trim()) push(partial);
      const ms = clock.now() - started;
      if (!why) say(`done in ${seconds(ms)}`);
      else {
        say(`FAILED (${why}) after ${seconds(ms)}; the last ${tail.length === 1 ? "line" : `${tail.length} lines`} of its output:`);
        for (const line of tail) write(`  ${line}`);
      }
      resolve({ ok: !why, ms, ...(why ? { why } : {}), tail });
    };
    child.once("error", (e) => finish(`cannot run ${step.command[0]}: ${e.message}`));
    child.once("close", (code, signal) => {
      if (timedOut) finish(`timed out after ${seconds(timeoutMs)}, stopped`);
      else finish(code === 0 ? undefined : signal ? `killed by ${signal}` : `exit ${code}`);
    });
  });
}
