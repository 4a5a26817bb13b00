/**
 * The one set of defaults of every unit spec. The library's validators and
 * the master's hsu.yaml loader both read them from here, so a value left out
 * of hsu.yaml means the same thing as a field left out of a library spec.
 */
export const specDefaults = Object.freeze({
  /** How a unit restarts after its process ends. */
  restart: Object.freeze({
    policy: "on-failure" as const,
    delayMs: 1000,
    backoffMultiplier: 2,
    maxDelayMs: 60_000,
    resetAfterMs: 10_000,
    breaker: Object.freeze({ windowMs: 60_000, maxRestarts: 5 }),
  }),
  /** Time between the stop signal and SIGKILL (managed and unmanaged units alike). */
  gracefulTimeoutMs: 30_000,
  stopSignal: "SIGTERM" as NodeJS.Signals,
  output: "capture" as const,
  /** Health check timing. */
  health: Object.freeze({
    intervalMs: 10_000,
    timeoutMs: 2_000,
    initialDelayMs: 0,
    successThreshold: 1,
    failureThreshold: 3,
  }),
  /** Resource limit monitoring. */
  limits: Object.freeze({ policy: "restart" as const, checkIntervalMs: 1000, cpuSustainSamples: 3 }),
  /** Unmanaged units: how often the process is checked. */
  unmanagedPollIntervalMs: 1000,
  /** Per-unit log files. */
  logs: Object.freeze({ maxFileBytes: 10 * 1024 * 1024, maxFiles: 5, tailLines: 1000 }),
  /** Cron schedules. */
  schedule: Object.freeze({ overlap: "skip" as const, history: 20 }),
  /**
   * How long `up` waits for a unit to show it started: an integrated unit's
   * handshake, a managed unit's first seconds of life (see startSettleMs).
   */
  startTimeoutMs: 10_000,
  /**
   * A managed unit alive this long after its spawn counts as started; one that
   * cannot start (exit 126/127, spawn error) has failed well before.
   */
  startSettleMs: 1000,
});

/** Unit ids: lower-case letters, digits, ".", "_" or "-", starting with a letter or digit, at most 63. */
export const unitIdPattern = /^[a-z0-9][a-z0-9._-]{0,62}$/;
