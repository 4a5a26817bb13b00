import { HsuError } from "../errors.ts";

/** Where an integrated unit is in its on-demand life. */
export type IntegratedState = "stopped" | "starting" | "running" | "stopping" | "closed";

/** What can happen to an integrated unit. */
export type IntegratedInput =
  /** A call (or `start()`) needs the unit while it is stopped. */
  | "wake"
  /** The handshake completed. */
  | "ready"
  /** The process failed to start, exited or timed out before the handshake. */
  | "fail"
  /** No call was in flight for the idle timeout. */
  | "idle"
  /** `stop()` or `close()` asked the running unit to stop. */
  | "stop"
  /** The process exited. */
  | "exit"
  /** `close()`: the unit is retired and never woken again. */
  | "close";

/** Every state, in a fixed order (tests walk them all). */
export const integratedStates: readonly IntegratedState[] = ["stopped", "starting", "running", "stopping", "closed"];
/** Every input, in a fixed order. */
export const integratedInputs: readonly IntegratedInput[] = ["wake", "ready", "fail", "idle", "stop", "exit", "close"];

const table: Record<IntegratedState, Partial<Record<IntegratedInput, IntegratedState>>> = {
  stopped: { wake: "starting", close: "closed" },
  starting: { ready: "running", fail: "stopped" },
  running: { idle: "stopping", stop: "stopping", exit: "stopped" },
  stopping: { exit: "stopped" },
  closed: {},
};

/**
 * The lifecycle as a pure table: returns the next state, or throws
 * `illegal_transition` naming the pair. Only the integrated unit's one
 * `apply` function calls it, so state changes and events never drift apart.
 */
export function transition(state: IntegratedState, input: IntegratedInput, unit?: string): IntegratedState {
  const next = table[state][input];
  if (next === undefined) {
    throw new HsuError(
      "illegal_transition",
      `"${input}" cannot happen while the unit is ${state} (this is a bug in the integrated unit logic)`,
      unit ? { unit } : {},
    );
  }
  return next;
}
