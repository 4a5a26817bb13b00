import { Cron } from "croner";
import { specDefaults } from "../spec/defaults.ts";
import { IssueList, type Checked } from "../spec/issues.ts";
import { HsuError } from "../errors.ts";
import { createSystemClock, type Clock, type Timer } from "../clock.ts";

/** What a due run does when the previous run is still going. */
export type OverlapPolicy = "skip" | "queue" | "replace";

/** How one run ended. */
export interface RunResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
}

/** One entry of a schedule's run history. */
export interface RunRecord {
  /** When the run was due (ms epoch). */
  readonly dueAt: number;
  readonly startedAt: number | undefined;
  readonly endedAt: number | undefined;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** succeeded (exit 0), failed, skipped (overlap), replaced (stopped for a newer run), error (could not start). */
  readonly outcome: "succeeded" | "failed" | "skipped" | "replaced" | "error";
  readonly detail: string;
}

/** Options for {@link createCronSchedule}. */
export interface CronScheduleOptions {
  /** The unit id, for errors. */
  unit: string;
  /** "sec min hour day month weekday" (seconds optional). */
  cron: string;
  /** IANA time zone; default the host's. */
  timezone?: string;
  overlap?: OverlapPolicy;
  /** Runs kept in history (default 20). */
  history?: number;
  /** Most runs waiting under "queue" (default 10); more are recorded as skipped. */
  maxQueued?: number;
  /** Starts one run; the signal aborts it (under "replace"). */
  run: (signal: AbortSignal) => Promise<RunResult>;
  clock?: Clock;
}

/** A running cron schedule. */
export interface CronSchedule {
  /** When the next run is due, or undefined when the expression has no future time. */
  nextRun(): number | undefined;
  /** Past runs, oldest first. */
  history(): readonly RunRecord[];
  /** Whether a run is in progress. */
  running(): boolean;
  /** Listens for finished (or skipped) runs. */
  onRun(listener: (r: RunRecord) => void): () => void;
  /** Stops scheduling; a run in progress is aborted when `abortRunning`. Waits for it to end. */
  stop(abortRunning?: boolean): Promise<void>;
}

/**
 * Checks a cron expression and time zone with the very library that will run
 * them (croner): the pattern parses, the time zone is known, and the
 * schedule has a next run. Fields are `schedule.cron` and `schedule.timezone`.
 */
export function checkCronSchedule(cron: string, timezone?: string, field = "schedule"): Checked<Cron> {
  const issues = new IssueList(field);
  if (timezone !== undefined) {
    try {
      new Intl.DateTimeFormat("en", { timeZone: timezone });
    } catch {
      issues.add("timezone", `"${timezone}" is not a known IANA time zone (e.g. Europe/Berlin, UTC)`);
      return { value: undefined, issues: issues.issues };
    }
  }
  let pattern: Cron;
  try {
    pattern = new Cron(cron, { paused: true, ...(timezone ? { timezone } : {}) });
  } catch (e) {
    issues.add("cron", `bad cron expression "${cron}": ${(e as Error).message.replace(/^CronPattern: /, "")}`);
    return { value: undefined, issues: issues.issues };
  }
  let next: Date | null;
  try {
    next = pattern.nextRun();
  } catch (e) {
    issues.add(timezone ? "timezone" : "cron", `cannot compute the next run: ${(e as Error).message}`);
    return { value: undefined, issues: issues.issues };
  }
  if (!next) issues.add("cron", `"${cron}" never runs (no date matches it)`);
  return issues.ok ? { value: pattern, issues: [] } : { value: undefined, issues: issues.issues };
}

/**
 * Runs a batch unit on a cron schedule with seconds and a time zone. Each
 * due time is computed from the previous one (never from "now" drift), and
 * timers go through the injected clock so tests move time by hand.
 */
export function createCronSchedule(options: CronScheduleOptions): CronSchedule {
  const clock = options.clock ?? createSystemClock();
  const checked = checkCronSchedule(options.cron, options.timezone);
  if (!checked.value) {
    const first = checked.issues[0]!;
    throw new HsuError("invalid_config", first.message, { unit: options.unit, field: first.field });
  }
  const pattern = checked.value;
  const overlap = options.overlap ?? specDefaults.schedule.overlap;
  const keep = options.history ?? specDefaults.schedule.history;
  const maxQueued = options.maxQueued ?? 10;
  const records: RunRecord[] = [];
  const listeners = new Set<(r: RunRecord) => void>();
  const queue: number[] = [];
  let current: { controller: AbortController; done: Promise<void>; dueAt: number } | undefined;
  let timer: Timer | undefined;
  let next: number | undefined;
  let stopped = false;

  const record = (r: RunRecord) => {
    records.push(r);
    records.splice(0, Math.max(0, records.length - keep));
    for (const l of listeners) l(r);
  };
  const skip = (dueAt: number, detail: string) =>
    record({ dueAt, startedAt: undefined, endedAt: undefined, exitCode: null, signal: null, outcome: "skipped", detail });

  const start = (dueAt: number) => {
    const controller = new AbortController();
    const startedAt = clock.now();
    const done = options
      .run(controller.signal)
      .then(
        (r) =>
          record({
            dueAt,
            startedAt,
            endedAt: clock.now(),
            exitCode: r.exitCode,
            signal: r.signal,
            outcome: controller.signal.aborted ? "replaced" : r.exitCode === 0 ? "succeeded" : "failed",
            detail: r.signal ? `signal ${r.signal}` : `exit ${r.exitCode}`,
          }),
        (e: unknown) =>
          record({ dueAt, startedAt, endedAt: clock.now(), exitCode: null, signal: null, outcome: "error", detail: (e as Error).message }),
      )
      .then(() => {
        current = undefined;
        const queued = queue.shift();
        if (queued !== undefined && !stopped) start(queued);
      });
    current = { controller, done, dueAt };
  };

  const fire = (dueAt: number) => {
    if (!current) start(dueAt);
    else if (overlap === "skip") skip(dueAt, `the run due at ${new Date(current.dueAt).toISOString()} is still going`);
    else if (overlap === "queue") {
      if (queue.length < maxQueued) queue.push(dueAt);
      else skip(dueAt, `${maxQueued} runs already wait in the queue`);
    } else {
      current.controller.abort(new HsuError("cancelled", "replaced by a newer run", { unit: options.unit }));
      queue.length = 0;
      queue.push(dueAt);
    }
  };

  const arm = (after: number) => {
    const due = pattern.nextRun(new Date(after));
    next = due ? due.getTime() : undefined;
    if (next === undefined || stopped) return;
    const at = next;
    timer = clock.setTimer(at - clock.now(), () => {
      fire(at);
      arm(at);
    });
  };
  arm(clock.now());

  return {
    nextRun: () => next,
    history: () => [...records],
    running: () => current !== undefined,
    onRun(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop(abortRunning = false) {
      stopped = true;
      timer?.cancel();
      queue.length = 0;
      if (current && abortRunning) current.controller.abort(new HsuError("cancelled", "the schedule was stopped", { unit: options.unit }));
      await current?.done;
    },
  };
}
