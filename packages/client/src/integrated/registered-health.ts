import type { HealthMonitor, HealthStatus } from "../supervisor/ports.ts";

/**
 * A health monitor for a check aimed at the address an integrated unit
 * registers: the supervisor builds monitors right after the spawn, before
 * the handshake, so this one waits for the address, then builds and runs the
 * real monitor and relays its changes. A process that exits before
 * registering is never probed.
 */
export function createRegisteredHealthMonitor(address: Promise<string>, build: (address: string) => HealthMonitor): HealthMonitor {
  const listeners = new Set<(status: "healthy" | "unhealthy", detail: string) => void>();
  let inner: HealthMonitor | undefined;
  let started = false;
  let stopped = false;
  return {
    start() {
      if (started) return;
      started = true;
      address.then(
        (a) => {
          if (stopped) return;
          try {
            inner = build(a);
          } catch (e) {
            process.emitWarning(`health check not started: ${(e as Error).message}`);
            return;
          }
          inner.onChange((status, detail) => {
            for (const l of [...listeners]) l(status, detail);
          });
          inner.start();
        },
        // Exited before registering: the exit itself is what the supervisor acts on.
        () => {},
      );
    },
    stop() {
      stopped = true;
      try {
        inner?.stop();
      } catch (e) {
        // Stopping is part of ending the run; a failing probe cleanup must not strand the unit.
        process.emitWarning(`health check did not stop cleanly: ${(e as Error).message}`);
      }
    },
    get status(): HealthStatus {
      return inner?.status ?? "unknown";
    },
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
