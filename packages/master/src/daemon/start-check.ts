import { createSystemClock, HsuError, specDefaults, type Clock, type HealthMonitor } from "@hsu/client";
import type { UnitConfig } from "../config/index.ts";
import type { UnitView } from "./slot.ts";

/** A unit that did not start, and why. */
export interface StartFailure {
  readonly unit: string;
  readonly reason: string;
}

/** What {@link waitUntilStarted} looks at. */
export interface StartCheck {
  /** Every unit and replica as `hsu ps` shows it now. */
  views(): UnitView[];
  /** The unit's config (a replica's is its pool's). */
  config(view: UnitView): UnitConfig | undefined;
  /** The reason of the last transition to `failed`, by unit or replica id. */
  failedReason(id: string): string | undefined;
  /** Time of the waits (the system clock by default); `now` overrides only its reading, for tests. */
  clock?: Clock;
  now?: () => number;
  /** Waits this long between looks (default 50 ms). */
  pollMs?: number;
}

// Unref'd: a pending deadline never keeps the master alive.
const systemClock = createSystemClock({ unref: true });

const settled = new Set(["ready", "attached", "idle", "scheduled", "stopped", "exited", "backoff"]);

/**
 * Waits until every unit `up` started shows whether it could start: failed
 * (it cannot), ready, or alive for `startSettleMs` (a command that is not
 * found, a spawn error or an exit 127 fail well before). Bounded by each
 * unit's start timeout: one still starting then is a failure too. Resolves
 * with the failures; never rejects.
 */
export async function waitUntilStarted(check: StartCheck): Promise<StartFailure[]> {
  const clock = check.clock ?? systemClock;
  const now = check.now ?? (() => clock.now());
  const began = now();
  const deadlineOf = (cfg: UnitConfig | undefined) => began + (cfg?.startTimeoutMs ?? specDefaults.startTimeoutMs) + specDefaults.startSettleMs;
  for (;;) {
    const failures: StartFailure[] = [];
    let waiting = false;
    for (const v of check.views()) {
      const cfg = check.config(v);
      if (v.state === "failed") {
        failures.push({ unit: v.id, reason: check.failedReason(v.id) ?? (v.lastExit || "see its logs") });
        continue;
      }
      if (settled.has(v.state)) continue;
      const alive = v.state === "running" && v.startedAt !== undefined && now() - v.startedAt >= specDefaults.startSettleMs;
      if (alive) continue;
      if (now() >= deadlineOf(cfg)) failures.push({ unit: v.id, reason: `still ${v.state} after ${Math.round((now() - began) / 1000)}s (units.${cfg?.id ?? v.id}.start_timeout)` });
      else waiting = true;
    }
    if (!waiting) return failures;
    await clock.sleep(check.pollMs ?? 50);
  }
}

/** The error `up` rejects with: which units did not start, and why. */
export function startError(failures: readonly StartFailure[], orderError?: unknown): HsuError {
  const lines = failures.map((f) => `${f.unit}: ${f.reason}`);
  if (orderError) {
    for (const part of (orderError as Error).message.split("; ")) if (!lines.some((l) => part.includes(l))) lines.push(part);
  }
  const n = failures.length;
  const head = n ? `${n} unit${n === 1 ? "" : "s"} did not start` : "units did not start";
  return new HsuError("unavailable", `${head}: ${lines.join("; ")}`, {}, orderError ? { cause: orderError } : undefined);
}

/**
 * A health monitor for a check that could not be built: it reports the unit
 * unhealthy at once, with the reason, so the unit's restart policy acts on it
 * instead of the unit running unchecked (or the supervisor being thrown at).
 */
export function unbuildableMonitor(reason: string): HealthMonitor {
  const listeners = new Set<(s: "healthy" | "unhealthy", d: string) => void>();
  let status: "unknown" | "unhealthy" = "unknown";
  let stopped = false;
  return {
    get status() {
      return status;
    },
    start() {
      queueMicrotask(() => {
        if (stopped || status === "unhealthy") return;
        status = "unhealthy";
        for (const l of [...listeners]) l("unhealthy", reason);
      });
    },
    stop() {
      stopped = true;
      listeners.clear();
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** How long stopping a unit may take beyond its graceful timeout (SIGKILL, output drain, cgroup sweep). */
export const STOP_MARGIN_MS = 15_000;

/**
 * Waits for `work` at most `ms`; past that rejects with a deadline_exceeded
 * HsuError saying `what`, so no stop or shutdown waits forever on one unit.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string, unit?: string, clock: Clock = systemClock): Promise<T> {
  let timer: { cancel(): void } | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = clock.setTimer(ms, () => reject(new HsuError("deadline_exceeded", `${what} did not finish within ${Math.round(ms / 1000)}s`, unit ? { unit } : {})));
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    timer?.cancel();
  }
}
