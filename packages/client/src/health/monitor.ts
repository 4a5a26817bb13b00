import { createSystemClock, type Clock, type Timer } from "../clock.ts";
import { createProbe, type Probe, type ProbeResult } from "./probes/index.ts";
import type { HealthMonitor, HealthStatus } from "../supervisor/ports.ts";
import type { HealthCheckSpec } from "./spec.ts";

// The monitor is the supervisor's health port; its types are defined there, once.
export type { HealthMonitor, HealthStatus };

/** Options of {@link createHealthMonitor}. */
export interface HealthMonitorOptions {
  /** Schedules delays, intervals and timeouts (default: real time, timers that never keep the process alive). */
  clock?: Clock;
  /** Replaces the probe built from `spec`; for tests of the threshold logic. */
  probe?: Probe;
}

// A pending probe timer must never be what keeps the master alive.
const defaultClock = createSystemClock({ unref: true });

/**
 * Creates a health monitor. Probes run one at a time: the next starts
 * `intervalMs` after the previous one finished (so a slow target is never
 * hit by overlapping probes), each limited to `timeoutMs`. The status turns
 * healthy after `successThreshold` consecutive passes and unhealthy after
 * `failureThreshold` consecutive failures; listeners hear only changes.
 */
export function createHealthMonitor(spec: HealthCheckSpec, target: { pid: number }, options: HealthMonitorOptions = {}): HealthMonitor {
  const clock = options.clock ?? defaultClock;
  const listeners = new Set<(status: "healthy" | "unhealthy", detail: string) => void>();
  let status: HealthStatus = "unknown";
  let probe: Probe | undefined;
  let timer: Timer | undefined;
  let inFlight: { controller: AbortController; timeout: Timer } | undefined;
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
    timer = clock.setTimer(delay, tick);
  };

  const tick = (): void => {
    timer = undefined;
    if (!running || !probe) return;
    const gen = generation;
    const controller = new AbortController();
    const timeout = clock.setTimer(spec.timeoutMs, () => controller.abort(new Error(`timed out after ${spec.timeoutMs} ms`)));
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
