import type { Transport } from "@connectrpc/connect";
import type { UnitInfo } from "@hsu/proto";
import type { EarlyUnit } from "../core/launch.ts";

export type { EarlyUnit };

/** How a unit's process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * A started unit, as the integrated layer needs it: a process that completed
 * its handshake. `LaunchedUnit` from the core satisfies it as is; so does
 * the handle of a supervised start (see supervised-start.ts).
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
  /**
   * Stops the unit the contract's way and resolves once the process is gone:
   * Core Shutdown with the token, then the one stop escalation (stop signal,
   * graceful timeout, SIGKILL, group sweep). It never hangs on a unit that
   * ignores Shutdown.
   */
  stop(): Promise<unknown>;
}

/**
 * Starts the unit's process and completes the handshake. Injected so the
 * master can swap `launchUnit` for a managed unit of its supervisor. When
 * `signal` aborts (start timeout, close) the function should kill what it
 * started and reject. A start that passes the unit a listening socket calls
 * `onSpawned` right after spawning.
 */
export type StartUnit = (signal: AbortSignal, onSpawned?: (early: EarlyUnit) => void) => Promise<UnitHandle>;

