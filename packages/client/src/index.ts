// For users: write a master.
export { HsuError, type HsuErrorCode, type HsuErrorWhere } from "./errors.ts";
export * from "./core/index.ts";
// Call units through a running `hsu` master by id, found the way the CLI finds it.
export * from "./master/index.ts";
export { formatAddress, parseAddress, type UnitAddress } from "@hsu/transport";

// The one injectable clock every part of the master schedules with.
export { createSystemClock, createFakeClock, type Clock, type FakeClock, type SystemClockOptions, type Timer } from "./clock.ts";

// The process supervisor: managed units, restart policy, worker pools.
export {
  createSupervisor,
  createPool,
  createManagedUnit,
  validateManagedUnitSpec,
  transition,
  type Supervisor,
  type SupervisorOptions,
  type Pool,
  type PoolOptions,
  type ManagedUnit,
  type ManagedUnitSpec,
  type UnitEvent,
  type UnitSnapshot,
  type LastExit,
  type LogSink,
  type HealthMonitorFactory,
  type LimitPlan,
  type LimitPlanner,
  type LimitMonitor,
  type LimitMonitorFactory,
  type CredentialGrant,
  type CredentialProvider,
} from "./supervisor/index.ts";

// Logs: line capture, tails, rotated files, back-pressured subscriptions.
export { createLogCollector, type LogCollector, type LogCollectorOptions, type LogLine, type LogSubscribeFilter } from "./logs/index.ts";
export { createRedactor, MIN_REDACTED_LENGTH, REDACTED, redactablePieces, type Redactor } from "./logs/index.ts";

// Health checks: process, http, tcp, exec and grpc.health.v1.
export {
  createHealthMonitor,
  runHealthCheck,
  validateHealthCheckSpec,
  type HealthCheckSpec,
  type HealthMonitor,
  type HealthStatus,
} from "./health/index.ts";

// Resources: /proc sampling, containment and limits (cgroups, rlimits, monitor).
export {
  createCgroupHome,
  createResourceSampler,
  createResourceSamplerGroup,
  createLimitPlanner,
  createLimitMonitorFactory,
  describeHostCapabilities,
  describeLeftovers,
  formatHostCapabilities,
  validateResourceLimits,
  type ResourceLimits,
  type ResourceSampler,
  type ResourceSamplerGroup,
  type ResourceUsage,
  type CgroupHome,
  type CgroupReapReport,
  type HostCapabilities,
} from "./resources/index.ts";
// The one /proc reader, for masters that look for processes (their units, a lock holder) themselves.
export { listPidsSync, readEnvironSync, readStatSync, isRunning, type ProcStat } from "./resources/proc.ts";

// Unmanaged units: processes the master finds and watches.
export { attachUnmanaged, validateUnmanagedSpec, type UnmanagedUnit, type UnmanagedEvent } from "./unmanaged/index.ts";

// Integrated units: on-demand start, idle stop, discovery.
export {
  createIntegratedUnit,
  createLaunchStart,
  createRegisteredHealthMonitor,
  createSupervisedStart,
  openUnitRecord,
  discoverUnit,
  discoverUnits,
  scanSocketDir,
  type IntegratedUnit,
  type IntegratedUnitOptions,
  type IntegratedEvent,
  type DiscoveredUnit,
  type StartUnit,
  type SupervisedStart,
  type UnitHandle,
  type UnitRecord,
} from "./integrated/index.ts";

// Master restart without loss: unit output through files, process records, re-adoption.
export { createDurableOs, OWNER_ENV, ownedProcesses, type DurableOs, type RecoveryReport } from "./durable/index.ts";

// Orchestration: dependencies and schedules.
export * from "./orchestration/index.ts";

// Specs: one typed spec per concern, its defaults, and one check that returns every issue.
export * from "./spec/index.ts";
