import type { Readable } from "node:stream";

// The supervisor depends only on these shapes; ../logs, ../health and
// ../resources implement them (health and resources import their types from
// here), and the master wires them into createSupervisor(). Each one is optional.

/** Receives a child's stdout/stderr; resolves once `source` ended and every line was delivered. */
export interface LogSink {
  attach(unit: string, stream: "stdout" | "stderr", source: Readable, options?: LogAttachOptions): Promise<void>;
}

/** Options of {@link LogSink.attach}. */
export interface LogAttachOptions {
  /**
   * Told how many bytes of `source` (from its first byte) are durably in the
   * unit's log: whole lines only (and pieces of over-long lines), after their
   * write(2) returned, in increasing order. A sink that keeps no file tells
   * it once the lines are delivered. Never called again after a write failed.
   */
  onWritten?: (sourceBytes: number) => void;
}

/**
 * A source that wants to hear how much of it reached the log (the durable
 * OS's file tails, which resume from there after a master crash). The
 * supervisor passes `acknowledgeWritten` as the sink's `onWritten`; with no
 * sink it acknowledges every byte it discarded.
 */
export interface AcknowledgedSource {
  acknowledgeWritten(sourceBytes: number): void;
}

/** The source's acknowledgement hook, if it has one. */
export function acknowledgementOf(source: Readable): ((sourceBytes: number) => void) | undefined {
  const hook = (source as Partial<AcknowledgedSource>).acknowledgeWritten;
  return typeof hook === "function" ? hook.bind(source) : undefined;
}

/** A unit's health as the monitor judges it; "unknown" until a threshold is first reached. */
export type HealthStatus = "unknown" | "healthy" | "unhealthy";

/** Watches one process with one health check and reports health changes (after its own thresholds). */
export interface HealthMonitor {
  /** Starts probing (after `initialDelayMs`) from status "unknown"; a second call does nothing. */
  start(): void;
  /** Stops probing, aborts a probe in flight and releases connections; no more changes are reported. */
  stop(): void;
  readonly status: HealthStatus;
  /** Called on every status change; returns an unsubscribe function. */
  onChange(listener: (status: "healthy" | "unhealthy", detail: string) => void): () => void;
}

/** Builds a health monitor for one spawned process; the lead closes over the unit's health spec. */
export type HealthMonitorFactory = (unit: string, target: { pid: number }) => HealthMonitor;

/**
 * How one run of a unit's process is contained (its own cgroup, where the
 * host allows) and its resource limits enforced: the supervisor spawns
 * through `wrap()`, calls `afterSpawn(pid)` once it has a pid, and
 * `release()` once the leader exited and its group was swept, before the
 * exit is reported.
 */
export interface LimitPlan {
  /**
   * The command to spawn instead: exec wrappers (cgroup join, prlimit) that
   * end in exec'ing the real command, so the pid stays the same. With a
   * wrapper, a command that does not exist shows as exit code 127 with a
   * message on stderr, not as a spawn ENOENT error.
   */
  wrap(command: string, args: string[]): { command: string; args: string[] };
  /** Applies limits that need the pid (makes sure the process is in its cgroups). */
  afterSpawn(pid: number): Promise<void>;
  /** Limits this host cannot enforce (or enforces only partly), one sentence each; reported as warning events. */
  readonly warnings: string[];
  /**
   * Set on the first plan of a unit whose processes no cgroup contains: processes that leave its
   * process group (setsid) escape its stop. Reported once as a warning event.
   */
  readonly escapeWarning?: string;
  /**
   * Kills everything left in the unit's cgroups (processes that left its group too), waits until
   * they are empty and removes them; rejects naming the survivors when a deadline passed.
   */
  release(): Promise<void>;
}

/** Plans limit enforcement for one start of a unit; `limits` is the unit spec's opaque `limits`. */
export type LimitPlanner = (unit: string, limits: unknown) => Promise<LimitPlan>;

/** What the supervisor does when a limit is exceeded. */
export type LimitPolicy = "log" | "restart" | "stop" | "kill";

/** One exceeded limit, reported once per episode (until usage is back under the limit). */
export interface LimitViolation {
  /** memoryBytes, cpuCores, maxProcesses or maxOpenFiles. */
  limit: string;
  /** The measured value (bytes, percent of one core x cores / 100, processes, open files). */
  value: number;
  max: number;
  policy: LimitPolicy;
}

/** Watches one unit's process tree against its limits and reports violations; the supervisor applies the policy. */
export interface LimitMonitor {
  stop(): void;
  /** Subscribes to violations; returns the unsubscribe function. */
  onViolation(listener: (v: LimitViolation) => void): () => void;
}

/** Builds a limit monitor for one spawned process's tree. */
export type LimitMonitorFactory = (unit: string, pid: number, limits: unknown) => LimitMonitor;

/**
 * What one run of a unit is given besides its spec: credentials (secrets)
 * made available for this run only. The supervisor adds `env` to the run's
 * environment and calls `release()` once the process group is gone, before
 * the exit is reported (and when the spawn did not happen).
 */
export interface CredentialGrant {
  /** Added to the run's environment (e.g. HSU_CREDENTIALS_DIR and variables the unit asked for). */
  readonly env: Readonly<Record<string, string>>;
  /** Removes what the grant made (the run's credentials directory); must settle in bounded time. */
  release(): Promise<void>;
}

/**
 * Prepares the credentials of one run of a unit whose spec has `credentials`
 * (opaque to the supervisor). A rejection means the unit cannot start: the
 * run ends unspawned with the error's message as its reason.
 */
export type CredentialProvider = (unit: string, credentials: unknown) => Promise<CredentialGrant>;
