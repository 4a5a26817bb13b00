import type { Clock } from "../clock.ts";
import type { RestartPolicyName, RestartSpec } from "./spec.ts";

/**
 * Why a process ended, as far as the restart policy cares.
 * - `success`: exit code 0 on its own.
 * - `failure`: non-zero exit code, failed spawn, or ended by the supervisor because it
 *   failed (unhealthy, limit `kill`).
 * - `signal`: killed by a signal nobody in the supervisor asked for.
 * - `stopped`: an explicit stop by the user (or a limit `stop` policy).
 * - `unknown`: ended on its own with no exit status to read: a process adopted
 *   from a previous master is not this master's child, so its code is never
 *   known. `on-failure` restarts it (a crash cannot be told from a clean
 *   exit, and keeping a service up is the safer guess); `never` does not.
 */
export type ExitKind = "success" | "failure" | "signal" | "stopped" | "unknown";

/** Whether `policy` restarts a process that ended with `kind`. */
export function shouldRestart(policy: RestartPolicyName, kind: ExitKind): boolean {
  if (kind === "stopped") return false;
  switch (policy) {
    case "never":
      return false;
    case "on-failure":
      // "unknown" included on purpose: see ExitKind.
      return kind !== "success";
    case "always":
    case "unless-stopped":
      return true;
  }
}

/**
 * Whether a master that just booted starts this unit again. `always` comes back even
 * if it was stopped by hand before the master went down (as with Docker); `unless-stopped`
 * stays down if its last state was an explicit stop. The master persists `explicitlyStopped`
 * (from the unit snapshot) to answer this after a restart; other policies follow `autoStart`.
 */
export function shouldStartOnBoot(
  spec: { autoStart: boolean; restart: { policy: RestartPolicyName } },
  previous: { explicitlyStopped: boolean } | undefined,
): boolean {
  if (spec.restart.policy === "always") return previous ? true : spec.autoStart;
  if (spec.restart.policy === "unless-stopped") return previous ? !previous.explicitlyStopped : spec.autoStart;
  return spec.autoStart;
}

/** The restart delay for the `attempt`-th consecutive restart (0-based). */
export function restartDelay(spec: Pick<RestartSpec, "delayMs" | "backoffMultiplier" | "maxDelayMs">, attempt: number): number {
  return Math.min(spec.delayMs * spec.backoffMultiplier ** attempt, spec.maxDelayMs);
}

/** What to do after a process ended. */
export type RestartDecision =
  | { action: "none"; reason: string }
  | { action: "restart"; delayMs: number; attempt: number; reason: string }
  | { action: "breaker_open"; reason: string }
  | { action: "retries_exhausted"; reason: string };

/** Tracks one unit's runs and restarts and answers what the policy wants next. */
export interface RestartTracker {
  /** Call when a process was spawned, to measure how long the run lasted. */
  runStarted(): void;
  /** Decides about a process that ended with `kind`; a `restart` answer is counted. */
  decide(kind: ExitKind): RestartDecision;
  /** Consecutive restarts since the last stable run or reset. */
  readonly consecutive: number;
  /** Restarts ever performed by the policy since the last reset. */
  readonly total: number;
  /** Forgets the retry counter and breaker history (manual start of a failed unit, reset). */
  reset(): void;
}

/**
 * Creates the restart bookkeeping for one unit.
 * Retry reset rule: a run that lasted at least `resetAfterMs` before it ended is
 * "stable", and the consecutive counter (backoff exponent and `maxRetries`) starts
 * again from zero. The breaker is independent: it counts every restart in the
 * sliding `breaker.windowMs` and opens when one more would exceed `maxRestarts`.
 */
export function createRestartTracker(spec: Readonly<RestartSpec>, clock: Clock): RestartTracker {
  let consecutive = 0;
  let total = 0;
  let runStartedAt: number | undefined;
  let history: number[] = [];
  return {
    runStarted() {
      runStartedAt = clock.now();
    },
    decide(kind) {
      const now = clock.now();
      if (runStartedAt !== undefined && now - runStartedAt >= spec.resetAfterMs) consecutive = 0;
      runStartedAt = undefined;
      if (!shouldRestart(spec.policy, kind)) {
        return { action: "none", reason: `policy "${spec.policy}" does not restart after ${kind}` };
      }
      if (spec.maxRetries !== undefined && consecutive >= spec.maxRetries) {
        return { action: "retries_exhausted", reason: `gave up after ${consecutive} consecutive restarts (restart.maxRetries)` };
      }
      history = history.filter((t) => now - t < spec.breaker.windowMs);
      if (history.length >= spec.breaker.maxRestarts) {
        return {
          action: "breaker_open",
          reason: `breaker open: ${history.length} restarts within ${spec.breaker.windowMs} ms (restart.breaker.maxRestarts)`,
        };
      }
      const attempt = consecutive;
      const delayMs = restartDelay(spec, attempt);
      consecutive++;
      total++;
      history.push(now);
      return { action: "restart", delayMs, attempt, reason: `policy "${spec.policy}" restarts after ${kind} in ${delayMs} ms` };
    },
    get consecutive() {
      return consecutive;
    },
    get total() {
      return total;
    },
    reset() {
      consecutive = 0;
      history = [];
      runStartedAt = undefined;
    },
  };
}
