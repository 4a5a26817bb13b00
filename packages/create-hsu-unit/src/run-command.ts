import { spawn } from "node:child_process";
import { GeneratorError } from "./errors.ts";
import type { Command } from "./manifest.ts";
import { formatElapsed, OutputTail, startStep, systemClock, type ProgressClock, type ProgressSink } from "./progress.ts";

/** How a template command runs: in the project dir, with extra env, a deadline and progress lines. */
export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  /** "inherit" passes the command's output through as it runs; "pipe" keeps it for the failure message only. */
  stdio?: "inherit" | "pipe";
  /** What the command is for, in progress lines and the error message (e.g. `install`). */
  step: string;
  /** How long the step may run before it is stopped (default `defaultDeadlineMs`). */
  deadlineMs?: number;
  /** What to tell the user to do after a failure (a command that works from where they are). */
  recovery: string;
  /** Told instead when the output shows npm could not get an `@hsu/*` package. */
  onMissingSdk?: string;
  /** Where progress lines go (default: stdout). */
  sink?: ProgressSink;
  clock?: ProgressClock;
}

/**
 * The default deadline of a step. A cold Rust build of the code generator
 * takes about 3 minutes on a 2-core machine; twenty is far beyond any
 * healthy run. HSU_STEP_DEADLINE_MIN changes it.
 */
export function defaultDeadlineMs(): number {
  const minutes = Number(process.env["HSU_STEP_DEADLINE_MIN"]);
  return (Number.isFinite(minutes) && minutes > 0 ? minutes : 20) * 60_000;
}

/** Lines of a failed step's output shown in the error. */
export const tailLines = 30;

const stdoutSink: ProgressSink = {
  write: (text) => process.stdout.write(text),
  get isTTY() {
    return process.stdout.isTTY === true;
  },
};

/**
 * Runs one template command (argv, no shell) and resolves when it exits 0.
 * It prints what runs, stays visibly alive while it runs, and prints the
 * elapsed time at the end. A failure, or running past the deadline (the
 * whole process group is then killed), names the step, the command, the
 * last `tailLines` lines of its output and the recovery.
 */
export function runCommand(command: Command, options: RunOptions): Promise<void> {
  const [file, ...args] = command;
  if (file === undefined) return Promise.reject(new GeneratorError("bad_template", `empty ${options.step} command`));
  const shown = command.join(" ");
  const stream = (options.stdio ?? "inherit") === "inherit";
  const sink = options.sink ?? stdoutSink;
  const clock = options.clock ?? systemClock;
  const deadlineMs = options.deadlineMs ?? defaultDeadlineMs();
  const progress = startStep(options.step, shown, sink, clock);
  const started = clock.now();
  const tail = new OutputTail(tailLines);
  return new Promise((resolve, reject) => {
    // Its own process group, so a deadline or Ctrl-C stops npm's and cargo's children too.
    const child = spawn(file, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // The group is already gone.
      }
    };
    const onSignal = (signal: NodeJS.Signals) => {
      killGroup("SIGKILL");
      process.exit(signal === "SIGINT" ? 130 : 143);
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    let timedOut = false;
    const stopDeadline = clock.every(deadlineMs, () => {
      timedOut = true;
      stopDeadline();
      killGroup("SIGKILL");
    });
    const keep = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      tail.push(text);
      if (stream) {
        progress.beforeOutput();
        sink.write(text);
      }
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    let settled = false;
    const finish = (error: GeneratorError | undefined) => {
      if (settled) return;
      settled = true;
      stopDeadline();
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
      progress.end(error === undefined);
      if (error) reject(error);
      else resolve();
    };
    child.on("error", (cause) =>
      finish(
        new GeneratorError("command_failed", `${options.step}: could not start \`${shown}\`: ${cause.message}. Is ${file} installed and on PATH?\n${options.recovery}`, {
          cause,
        }),
      ),
    );
    // Once the command exits, what is left of its group goes too, so no
    // grandchild keeps the pipes (and us) open; "close" then has all output.
    child.on("exit", () => killGroup("SIGKILL"));
    child.on("close", (code, signal) => {
      if (code === 0 && !timedOut) return finish(undefined);
      const how = timedOut
        ? `did not finish within its deadline of ${formatElapsed(deadlineMs)} (stopped; HSU_STEP_DEADLINE_MIN sets a longer one)`
        : signal
          ? `was killed by ${signal}`
          : `exited with code ${code}`;
      const output = tail.text();
      const shownTail = output ? `\n--- last ${tailLines} lines of its output ---\n${output}\n---` : "";
      finish(
        new GeneratorError(
          "command_failed",
          `${options.step}: \`${shown}\` ${how} after ${formatElapsed(clock.now() - started)} in ${options.cwd}.${shownTail}\n${recoveryFor(output, options)}`,
        ),
      );
    });
  });
}

/** The recovery to print: for npm not finding `@hsu/*`, what was missing and how to use tarballs instead. */
function recoveryFor(output: string, options: RunOptions): string {
  const missing = /404[^\n]*(@hsu(?:\/|%2f)[a-z0-9-]+)/i.exec(output)?.[1]?.replace(/%2f/i, "/");
  if (missing === undefined || options.onMissingSdk === undefined) return options.recovery;
  return `npm could not get ${missing} from the registry it uses (not published there yet?).\n${options.onMissingSdk}`;
}
