import { HsuError } from "../errors.ts";

/**
 * The states of a managed unit.
 * - `stopped`: not running and not meant to run (initial, or explicitly stopped).
 * - `starting`: limits being planned / process being spawned.
 * - `running`: the process is alive but not (yet) known to be ready.
 * - `ready`: alive and healthy (health check passed or handshake done).
 * - `stopping`: an explicit stop is in progress; the exit ends in `stopped`.
 * - `restarting`: an explicit restart is in progress; the exit spawns again, bypassing the policy.
 * - `killing`: the supervisor is ending the process because it failed (unhealthy, limit `kill`);
 *   the exit counts as a crash and the restart policy decides.
 * - `backoff`: exited, waiting for the restart delay.
 * - `exited`: exited on its own and the restart policy does not bring it back (yet).
 * - `failed`: the breaker opened or retries ran out; no further restarts until `start`/`reset`.
 */
export const unitStates = [
  "stopped",
  "starting",
  "running",
  "ready",
  "stopping",
  "restarting",
  "killing",
  "backoff",
  "exited",
  "failed",
] as const;

/** One lifecycle state of a managed unit. */
export type UnitState = (typeof unitStates)[number];

/** Every event the lifecycle table knows. */
export const lifecycleEventTypes = [
  "start",
  "spawned",
  "spawn_failed",
  "ready",
  "unhealthy",
  "stop",
  "restart",
  "kill",
  "exit",
  "schedule_restart",
  "backoff_elapsed",
  "breaker_open",
  "retries_exhausted",
  "reset",
] as const;

/** The name of a lifecycle event. */
export type LifecycleEventType = (typeof lifecycleEventTypes)[number];

/**
 * Side effects the caller must carry out after a transition.
 * - `spawn`: start the process.
 * - `terminate`: graceful stop sequence on the process group (stop signal, SIGKILL after the timeout).
 * - `kill`: SIGKILL the process group now.
 * - `cancel_backoff`: cancel the pending restart timer.
 * - `reset_counters`: forget retries and breaker history.
 */
export type LifecycleEffect = "spawn" | "terminate" | "kill" | "cancel_backoff" | "reset_counters";

/** Result of a legal transition. */
export interface TransitionResult {
  state: UnitState;
  effects: readonly LifecycleEffect[];
}

type Row = Partial<Record<LifecycleEventType, [UnitState, ...LifecycleEffect[]]>>;

// Stop/restart/kill behave alike wherever a process is alive.
const alive = (self: UnitState): Row => ({
  start: [self],
  stop: ["stopping", "terminate"],
  restart: ["restarting", "terminate"],
  kill: ["killing", "kill"],
  exit: ["exited"],
});

/** The full table: state -> event -> [next state, ...effects]. Missing entries are illegal. */
export const lifecycleTable: Readonly<Record<UnitState, Row>> = {
  stopped: {
    start: ["starting", "spawn"],
    restart: ["starting", "spawn"],
    stop: ["stopped"],
    reset: ["stopped", "reset_counters"],
  },
  starting: {
    ...alive("starting"),
    spawned: ["running"],
    spawn_failed: ["exited"],
  },
  running: {
    ...alive("running"),
    ready: ["ready"],
    unhealthy: ["killing", "terminate"],
  },
  ready: {
    ...alive("ready"),
    ready: ["ready"],
    unhealthy: ["killing", "terminate"],
  },
  stopping: {
    start: ["restarting"],
    restart: ["restarting"],
    stop: ["stopping"],
    kill: ["stopping", "kill"],
    exit: ["stopped"],
  },
  restarting: {
    start: ["restarting"],
    restart: ["restarting"],
    stop: ["stopping"],
    kill: ["restarting", "kill"],
    exit: ["starting", "spawn"],
  },
  killing: {
    start: ["restarting"],
    restart: ["restarting"],
    stop: ["stopping"],
    kill: ["killing", "kill"],
    exit: ["exited"],
  },
  backoff: {
    start: ["starting", "cancel_backoff", "spawn"],
    restart: ["starting", "cancel_backoff", "spawn"],
    stop: ["stopped", "cancel_backoff"],
    backoff_elapsed: ["starting", "spawn"],
    reset: ["stopped", "cancel_backoff", "reset_counters"],
  },
  exited: {
    start: ["starting", "spawn"],
    restart: ["starting", "spawn"],
    stop: ["stopped"],
    schedule_restart: ["backoff"],
    breaker_open: ["failed"],
    retries_exhausted: ["failed"],
    reset: ["stopped", "reset_counters"],
  },
  failed: {
    start: ["starting", "reset_counters", "spawn"],
    restart: ["starting", "reset_counters", "spawn"],
    stop: ["stopped"],
    reset: ["stopped", "reset_counters"],
  },
};

/** Whether `event` is legal in `state`. */
export function canTransition(state: UnitState, event: LifecycleEventType): boolean {
  return lifecycleTable[state][event] !== undefined;
}

/**
 * The pure lifecycle step: the next state and the effects to carry out, or
 * an `illegal_transition` HsuError. It never touches a process or a timer.
 */
export function transition(state: UnitState, event: LifecycleEventType, unit?: string): TransitionResult {
  const entry = lifecycleTable[state][event];
  if (!entry) {
    throw new HsuError(
      "illegal_transition",
      `event "${event}" is not allowed in state "${state}"`,
      unit === undefined ? {} : { unit },
    );
  }
  const [next, ...effects] = entry;
  return { state: next, effects };
}

/** States in which the unit's process may be alive. */
export function isAlive(state: UnitState): boolean {
  return ["starting", "running", "ready", "stopping", "restarting", "killing"].includes(state);
}
