// Resource sampling (from /proc), resource limits (cgroups, rlimits) and their monitor.
import { createSystemClock, type Clock } from "../clock.ts";

/** The package's one clock under its former resources name; ../unmanaged still imports it from here. */
export type ResourceClock = Clock;
/** The real clock (plain Node timers), under the name ../unmanaged imports. */
export const systemClock: Clock = createSystemClock();
export {
  createResourceSampler,
  createResourceSamplerGroup,
  type ProcessUsage,
  type ResourceSampler,
  type ResourceSamplerGroup,
  type ResourceSamplerOptions,
  type ResourceUsage,
} from "./sampler.ts";
export { checkResourceLimits, validateResourceLimits, type IoBandwidth, type LimitName, type LimitPolicy, type ResourceLimits } from "./limits.ts";
export {
  describeHostCapabilities,
  formatHostCapabilities,
  type CgroupController,
  type ContainmentSupport,
  type ControllerSupport,
  type Enforcement,
  type HostCapabilities,
} from "./host.ts";
export {
  createCgroupHome,
  describeLeftovers,
  unitCgroupName,
  type CgroupHome,
  type CgroupHomeOptions,
  type CgroupReapReport,
  type Leftover,
  type UnitCgroups,
} from "./cgroup-home.ts";
export { createLimitPlanner, type LimitPlan, type LimitPlanner, type LimitPlannerOptions } from "./planner.ts";
export {
  createJudge,
  createLimitMonitorFactory,
  type LimitMonitor,
  type LimitMonitorFactory,
  type LimitMonitorOptions,
  type LimitViolation,
} from "./monitor.ts";
export { kernelEnforcedLimits } from "./enforced.ts";
export { readStat, readCmdline, isRunning, type ProcStat } from "./proc.ts";
