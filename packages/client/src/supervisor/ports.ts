import type { Readable } from "node:stream";

// The supervisor depends only on these shapes; the lead wires the real
// implementations from ../logs, ../health and ../resources into
// createSupervisor(). Each one is optional.

/** Receives a child's stdout/stderr; resolves once `source` ended and every line was delivered. */
export interface LogSink {
  attach(unit: string, stream: "stdout" | "stderr", source: Readable): Promise<void>;
}

/** Health status a monitor reports; `unknown` until the first check finished. */
export type HealthStatus = "unknown" | "healthy" | "unhealthy";

/** Watches one running process and reports health changes (after its own failure threshold). */
export interface HealthMonitor {
  start(): void;
  stop(): void;
  readonly status: HealthStatus;
  onChange(listener: (status: "healthy" | "unhealthy", detail: string) => void): () => void;
}

/** Builds a health monitor for one spawned process; the lead closes over the unit's health spec. */
export type HealthMonitorFactory = (unit: string, target: { pid: number }) => HealthMonitor;

/** How a unit's resource limits are enforced for one run of its process. */
export interface LimitPlan {
  /** Rewrites the command line (e.g. to run under prlimit/systemd-run) before spawn. */
  wrap(command: string, args: string[]): { command: string; args: string[] };
  /** Applies limits that need the pid (cgroup membership, rlimits on the live process). */
  afterSpawn(pid: number): Promise<void>;
  /** Limits that could not be enforced here, reported as warning events. */
  readonly warnings: string[];
  /** Frees what the plan allocated (cgroups, temp files) once the process is gone. */
  release(): Promise<void>;
}

/** Plans limit enforcement for one start of a unit; `limits` is the unit spec's opaque `limits`. */
export type LimitPlanner = (unit: string, limits: unknown) => Promise<LimitPlan>;

/** What the supervisor does when a limit is exceeded. */
export type LimitPolicy = "log" | "restart" | "stop" | "kill";

/** One observed limit violation. */
export interface LimitViolation {
  limit: string;
  value: number;
  max: number;
  policy: LimitPolicy;
}

/** Samples a running process against its limits and reports violations. */
export interface LimitMonitor {
  stop(): void;
  onViolation(listener: (v: LimitViolation) => void): () => void;
}

/** Builds a limit monitor for one spawned process. */
export type LimitMonitorFactory = (unit: string, pid: number, limits: unknown) => LimitMonitor;
