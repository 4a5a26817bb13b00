import type { LifecycleEventType, UnitState } from "./lifecycle.ts";
import type { ExitKind } from "./restart.ts";
import type { HealthStatus, LimitViolation } from "./ports.ts";

/**
 * One thing that happened to a unit. Lifecycle events (`type` is a lifecycle
 * event name) always change or confirm the state (`from` -> `to`); `warning`
 * and `limit_violation` events report without a transition (`from` = `to`).
 */
export interface UnitEvent {
  unit: string;
  type: LifecycleEventType | "warning" | "limit_violation";
  from: UnitState;
  to: UnitState;
  /** Human-readable cause: the exit, the policy decision, the health detail, ... */
  reason: string;
  /** Set on `exit` events (and `spawn_failed` when a process did run): the exit code, or null. */
  exitCode?: number | null;
  /** Set on `exit` events: the signal name that ended the process, or null. */
  signal?: string | null;
  /** The process id the event is about, when there is one. */
  pid?: number;
  /** Restarts since the unit was added (or last reset). */
  restartCount: number;
  /** When it happened, from the supervisor's clock (ms since the epoch). */
  time: number;
  /** For `limit_violation` events. */
  violation?: LimitViolation;
}

/** How a unit's last process ended. */
export interface LastExit {
  code: number | null;
  signal: string | null;
  kind: ExitKind;
  reason: string;
  time: number;
}

/** A point-in-time view of one unit. */
export interface UnitSnapshot {
  id: string;
  state: UnitState;
  /** The live process id (while a process exists). */
  pid?: number;
  restarts: number;
  lastExit?: LastExit;
  /** When the current (or last) process was spawned. */
  startedAt?: number;
  /** True after an explicit stop, until the next start; persist it for `unless-stopped`. */
  explicitlyStopped: boolean;
  /** The health monitor's view, when the unit has a health check. */
  health?: HealthStatus;
}
