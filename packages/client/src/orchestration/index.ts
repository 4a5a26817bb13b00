export {
  buildDependencyGraph,
  startInOrder,
  stopInReverse,
  type DependencyActions,
  type DependencyCondition,
  type DependencyGraph,
  type GraphUnit,
} from "./dependencies.ts";
export {
  createCronSchedule,
  type CronSchedule,
  type CronScheduleOptions,
  type OverlapPolicy,
  type RunRecord,
  type RunResult,
} from "./scheduler.ts";
