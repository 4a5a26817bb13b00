import type { Transport } from "@connectrpc/connect";
import type { UnitInfo } from "@hsu/proto";
import type { Clock } from "../clock.ts";
import { signalGroup } from "../supervisor/os-process.ts";

/** How a unit's process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * A started unit, as the integrated layer needs it: a process that completed
 * its handshake. `LaunchedUnit` from the core satisfies it as is; the
 * supervisor's managed unit can be adapted to it.
 */
export interface UnitHandle {
  /** The process id; also its process group id (units run in their own group). */
  readonly pid: number;
  /** What the unit registered in the handshake. */
  readonly info: UnitInfo;
  /** Calls to the unit go through `client.transport`. */
  readonly client: { readonly transport: Transport };
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** Asks the unit to stop (Core Shutdown with the token, then signals). */
  stop(deadlineMs?: number): Promise<unknown>;
}

/**
 * Starts the unit's process and completes the handshake. Injected so the
 * master can swap `launchUnit` for the supervisor's managed unit. When
 * `signal` aborts (start timeout, close) the function should kill what it
 * started and reject.
 */
export type StartUnit = (signal: AbortSignal) => Promise<UnitHandle>;

/** Sends a signal to a whole process group; the default is `process.kill(-pid)`. */
export type SignalGroup = (pid: number, signal: NodeJS.Signals) => void;

/** Signals the process group `pid` (the supervisor's `signalGroup`); a group that is already gone is not an error. */
export const signalProcessGroup: SignalGroup = (pid, signal) => void signalGroup(pid, signal);

/** Options for {@link stopHandle}. */
export interface StopHandleOptions {
  /** How long the unit has to drain after Shutdown before SIGTERM. */
  deadlineMs: number;
  /** How long after SIGTERM before SIGKILL. */
  graceMs: number;
  clock: Clock;
  signalGroup: SignalGroup;
}

/**
 * Stops a unit the contract's way (docs/unit-contract.md, "Stopping"): the
 * handle's own stop (Core Shutdown), then SIGTERM to the process group once
 * the deadline has passed, then SIGKILL after the grace period. The
 * escalation runs on the injected clock, whatever the handle does, so a unit
 * that ignores Shutdown still goes. Resolves with the exit status and the
 * error the handle's stop failed with, if any.
 */
export async function stopHandle(handle: UnitHandle, options: StopHandleOptions): Promise<{ exit: ExitStatus; error?: Error }> {
  let error: Error | undefined;
  let gone = false;
  const send = (signal: NodeJS.Signals) => {
    if (gone) return;
    try {
      options.signalGroup(handle.pid, signal);
    } catch (e) {
      error ??= e as Error;
    }
  };
  const term = options.clock.setTimer(options.deadlineMs, () => send("SIGTERM"));
  const kill = options.clock.setTimer(options.deadlineMs + options.graceMs, () => send("SIGKILL"));
  Promise.resolve()
    .then(() => handle.stop(options.deadlineMs))
    .catch((e: unknown) => {
      // Shutdown refused or unreachable: go straight to SIGTERM rather than waiting out the deadline.
      error ??= e instanceof Error ? e : new Error(String(e));
      send("SIGTERM");
    });
  const exit = await handle.exited;
  gone = true;
  term.cancel();
  kill.cancel();
  return error ? { exit, error } : { exit };
}
