import { UnitState as WireState } from "@hsu/proto";

/**
 * Every state a unit can show, whatever its kind (the one list; the wire
 * enum is hsu.master.v1.UnitState). The order is the order `hsu ps`
 * summarises them in: doing their job first, trouble last.
 */
export const unitStates = [
  "running",
  "ready",
  "attached",
  "starting",
  "restarting",
  "backoff",
  "stopping",
  "killing",
  "idle",
  "scheduled",
  "stopped",
  "exited",
  "detached",
  "closed",
  "failed",
  "gone",
] as const;

/** A unit's lifecycle state, as slots, the control service and the CLI speak it. */
export type UnitState = (typeof unitStates)[number];

/** True for a state of the list (a string from an older peer may be anything). */
export function isUnitState(s: string): s is UnitState {
  return (unitStates as readonly string[]).includes(s);
}

const toWire: Record<UnitState, WireState> = {
  stopped: WireState.STOPPED,
  starting: WireState.STARTING,
  running: WireState.RUNNING,
  ready: WireState.READY,
  stopping: WireState.STOPPING,
  restarting: WireState.RESTARTING,
  killing: WireState.KILLING,
  backoff: WireState.BACKOFF,
  exited: WireState.EXITED,
  failed: WireState.FAILED,
  detached: WireState.DETACHED,
  attached: WireState.ATTACHED,
  gone: WireState.GONE,
  idle: WireState.IDLE,
  scheduled: WireState.SCHEDULED,
  closed: WireState.CLOSED,
};
const fromWire = new Map<WireState, UnitState>(Object.entries(toWire).map(([k, v]) => [v, k as UnitState]));

/** The wire value of a state; UNSPECIFIED for a text that is no state. */
export function wireState(s: string): WireState {
  return isUnitState(s) ? toWire[s] : WireState.UNSPECIFIED;
}

/**
 * The state a wire message carries: the enum when set, else the text (an
 * older master sends only the text); undefined when neither is a state.
 */
export function stateFromWire(value: WireState, text: string): UnitState | undefined {
  return fromWire.get(value) ?? (isUnitState(text) ? text : undefined);
}
