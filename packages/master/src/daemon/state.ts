import type { UnitState as WireState } from "@hsu/proto";

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

// The enum by its values (state.test.ts checks each against the generated one), so the CLI can
// name states without booting the generated descriptors.
const toWire: Record<UnitState, WireState> = {
  stopped: 1,
  starting: 2,
  running: 3,
  ready: 4,
  stopping: 5,
  restarting: 6,
  killing: 7,
  backoff: 8,
  exited: 9,
  failed: 10,
  detached: 11,
  attached: 12,
  gone: 13,
  idle: 14,
  scheduled: 15,
  closed: 16,
};
const fromWire = new Map<WireState, UnitState>(Object.entries(toWire).map(([k, v]) => [v, k as UnitState]));

/** The wire value of a state; UNSPECIFIED for a text that is no state. */
export function wireState(s: string): WireState {
  return isUnitState(s) ? toWire[s] : 0;
}

/**
 * The state a wire message carries: the enum when set, else the text (an
 * older master sends only the text); undefined when neither is a state.
 */
export function stateFromWire(value: WireState, text: string): UnitState | undefined {
  return fromWire.get(value) ?? (isUnitState(text) ? text : undefined);
}
