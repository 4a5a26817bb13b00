import type { UnitConfig } from "../config/index.ts";
import type { UnitState } from "./state.ts";

/** How the master relates to a unit (mirrors hsu.master.v1.UnitKind). */
export type SlotKind = "managed" | "unmanaged" | "integrated" | "pool_replica" | "scheduled";

/** One unit as `hsu ps` shows it (resources are added by the master). */
export interface UnitView {
  id: string;
  kind: SlotKind;
  state: UnitState;
  pid: number | undefined;
  startedAt: number | undefined;
  restarts: number;
  health: string;
  address: string;
  lastExit: string;
  pool: string;
  description: string;
  nextRun: number | undefined;
}

/**
 * A state change, whatever the kind of unit. `from`/`to` are text because an
 * integrated unit still reports its library's own states; the control
 * service types them on the wire (UnitEvent.from_unit_state).
 */
export interface MasterEvent {
  unit: string;
  from: string;
  to: string;
  reason: string;
  time: number;
  exitCode?: number | null;
  signal?: string | null;
  restarts: number;
}

/** What a dependency waits for. */
export type Condition = "started" | "healthy" | "completed";

/**
 * One configured unit, whatever its kind: the master drives every kind
 * through this one shape (start in dependency order, stop in reverse,
 * report status), so kinds never leak into the master's own logic.
 */
export interface Slot {
  readonly id: string;
  readonly config: UnitConfig;
  /** Brings the unit up as `hsu up` would (an on-demand unit just becomes ready to wake). */
  up(): Promise<void>;
  /**
   * Starts it now, explicitly (`hsu start`). `member` is one of the ids its
   * views show (a pool's replica): then only that one; without it, all.
   */
  start(member?: string): Promise<void>;
  stop(member?: string): Promise<void>;
  restart(member?: string): Promise<void>;
  /** Resolves when the unit reached `condition`; rejects when it cannot any more. */
  reached(condition: Condition, signal: AbortSignal): Promise<void>;
  views(): UnitView[];
  /**
   * Stops the unit (if the master owns it) and releases everything. At the
   * master's shutdown (`"shutdown"`, not when apply replaces the unit) an
   * adopted process goes down too when hsu.yaml allows it (can_terminate).
   */
  close(reason?: "shutdown"): Promise<void>;
}

/** Formats an exit for people: "code 0", "signal SIGKILL". */
export function exitText(code: number | null | undefined, signal: string | null | undefined): string {
  if (signal) return `signal ${signal}`;
  if (code !== null && code !== undefined) return `code ${code}`;
  return "";
}
