import { launchUnit, type EarlyUnit, type LaunchedUnit, type LaunchUnitOptions } from "../core/launch.ts";
import type { Registrar } from "../core/registrar.ts";
import { HsuError } from "../errors.ts";

/** Options for {@link createLaunchStart}: what `launchUnit` needs, minus the timeout the integrated unit owns. */
export interface LaunchStartOptions extends Omit<LaunchUnitOptions, "startTimeoutMs" | "stdio"> {
  /**
   * Backstop for the registrar's own wait, in ms. The integrated unit's start
   * timeout (on its clock) normally fires first and aborts the start.
   * Default 10 minutes.
   */
  registrarTimeoutMs?: number;
  /** The unit's output. Default "pipe": stderr's last lines go into start errors, stdout is drained. */
  stdio?: "inherit" | "pipe" | "ignore";
  /** Called with each process launched (the master's bookkeeping, tests counting spawns). */
  onLaunched?: (unit: LaunchedUnit) => void;
}

/**
 * The default start step of an integrated unit: `launchUnit` with the
 * environment contract and a handshake through `registrar`. Aborting the
 * signal cancels the pending handshake, which makes `launchUnit` kill the
 * process group and reject with the reason and the stderr tail.
 */
export function createLaunchStart(options: LaunchStartOptions): (signal: AbortSignal, onSpawned?: (early: EarlyUnit) => void) => Promise<LaunchedUnit> {
  const { registrarTimeoutMs, onLaunched, ...launch } = options;
  return async (signal, onSpawned) => {
    if (signal.aborted) throw abortError(signal, options.id);
    const registrar = abortableRegistrar(options.registrar, signal);
    const unit = await launchUnit({
      ...launch,
      ...(onSpawned ? { onSpawned } : {}),
      registrar,
      stdio: options.stdio ?? "pipe",
      startTimeoutMs: registrarTimeoutMs ?? 600_000,
    });
    // Without an output consumer nobody reads stdout; keep the pipe flowing so the unit never blocks on it.
    if (!launch.output) unit.child.stdout?.resume();
    onLaunched?.(unit);
    if (signal.aborted) {
      // Registered just as the start was abandoned: do not leave it running.
      await unit.stop(1000);
      throw abortError(signal, options.id);
    }
    return unit;
  };
}

function abortableRegistrar(registrar: Registrar, signal: AbortSignal): Registrar {
  return {
    address: registrar.address,
    masterId: registrar.masterId,
    close: () => registrar.close(),
    expect(unitId, token, timeoutMs) {
      const pending = registrar.expect(unitId, token, timeoutMs);
      const onAbort = () => pending.cancel(reasonText(signal));
      signal.addEventListener("abort", onAbort, { once: true });
      pending.registered.then(
        () => signal.removeEventListener("abort", onAbort),
        () => signal.removeEventListener("abort", onAbort),
      );
      return pending;
    },
  };
}

function reasonText(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : String(r);
}

function abortError(signal: AbortSignal, unit: string): HsuError {
  return new HsuError("cancelled", `start abandoned: ${reasonText(signal)}`, { unit }, { cause: signal.reason });
}
