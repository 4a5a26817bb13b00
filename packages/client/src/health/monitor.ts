import { realClock, toClock, type Clock, type ClockTimer, type TimerClock } from "./clock.ts";
import { createProbe, type Probe, type ProbeResult } from "./probes/index.ts";
import type { HealthCheckSpec } from "./spec.ts";

/** A unit's health as the monitor judges it; "unknown" until a threshold is first reached. */
export type HealthStatus = "unknown" | "healthy" | "unhealthy";

/** Watches one process with one health check; the supervisor's view of a unit's health. */
export interface HealthMonitor {
  /** Starts probing (after `initialDelayMs`) from status "unknown"; a second call does nothing. */
  start(): void;
  /** Stops probing, aborts a probe in flight and releases connections; no more changes are reported. */
  stop(): void;
  readonly status: HealthStatus;
  /** Called on every status change; returns an unsubscribe function. */
  onChange(listener: (status: "healthy" | "unhealthy", detail: string) => void): () => void;
}

/** Options of {@link createHealthMonitor}. */
export interface HealthMonitorOptions {
  /** Schedules delays, intervals and timeouts (default: real time); either clock shape works. */
  clock?: Clock | TimerClock;
  /** Replaces the probe built from `spec`; for tests of the threshold logic. */
  probe?: Probe;
}

/**
 * Creates a health monitor. Probes run one at a time: the next starts
 * `intervalMs` after the previous one finished (so a slow target is never
 * hit by overlapping probes), each limited to `timeoutMs`. The status turns
 * healthy after `successThreshold` consecutive passes and unhealthy after
 * `failureThreshold` consecutive failures; listeners hear only changes.
 */
export function createHealthMonitor(spec: HealthCheckSpec, target: { pid: number }, options: HealthMonitorOptions = {}): HealthMonitor {
  const clock = options.clock ? toClock(options.clock) : realClock;
  const listeners = new Set<(status: "healthy" | "unhealthy", detail: string) => void>();
  let status: HealthStatus = "unknown";
  let probe: Probe | undefined;
  let timer: ClockTimer | undefined;
  let inFlight: { controller: AbortController; timeout: ClockTimer } | undefined;
  let running = false;
  let generation = 0; // bumps on stop so results of an aborted probe are ignored
  let successes = 0;
  let failures = 0;

  const record = (result: ProbeResult): void => {
    if (result.ok) {
      successes++;
      failures = 0;
    } else {
      failures++;
      successes = 0;
    }
    const next: HealthStatus =
      result.ok && successes >= spec.successThreshold ? "healthy" : !result.ok && failures >= spec.failureThreshold ? "unhealthy" : status;
    if (next === status || next === "unknown") return;
    status = next;
    for (const listener of [...listeners]) {
      try {
        listener(next, result.detail);
      } catch (err) {
        // A broken listener must not stop health checking; surface it as an unhandled error instead.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  };

  const schedule = (delay: number): void => {
    timer = clock.setTimeout(tick, delay);
  };

  const tick = (): void => {
    timer = undefined;
    if (!running || !probe) return;
    const gen = generation;
    const controller = new AbortController();
    const timeout = clock.setTimeout(() => controller.abort(new Error(`timed out after ${spec.timeoutMs} ms`)), spec.timeoutMs);
    inFlight = { controller, timeout };
    // A timed-out probe settles as soon as it sees the abort; the result counts as a failure either way.
    const settled = new Promise<ProbeResult>((resolve) => {
      controller.signal.addEventListener("abort", () => resolve({ ok: false, detail: String((controller.signal.reason as Error).message) }), { once: true });
      let outcome: Promise<ProbeResult>;
      try {
        outcome = probe!.run(controller.signal);
      } catch (err) {
        outcome = Promise.reject(err); // a probe that throws synchronously is a failure, not a stalled monitor
      }
      outcome.then(resolve, (err: unknown) => resolve({ ok: false, detail: `probe failed: ${err instanceof Error ? err.message : String(err)}` }));
    });
    void settled.then((result) => {
      timeout.cancel();
      if (gen !== generation || !running) return;
      inFlight = undefined;
      record(result);
      // A listener may have stopped (or stopped and restarted) the monitor.
      if (running && gen === generation) schedule(spec.intervalMs);
    });
  };

  return {
    start() {
      if (running) return;
      running = true;
      status = "unknown";
      successes = 0;
      failures = 0;
      probe = options.probe ?? createProbe(spec, target);
      schedule(spec.initialDelayMs);
    },
    stop() {
      if (!running) return;
      running = false;
      generation++;
      timer?.cancel();
      timer = undefined;
      if (inFlight) {
        inFlight.timeout.cancel();
        inFlight.controller.abort(new Error("health monitor stopped"));
        inFlight = undefined;
      }
      probe?.close();
      probe = undefined;
    },
    get status() {
      return status;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
