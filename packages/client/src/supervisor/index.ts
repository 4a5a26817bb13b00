// The process supervisor: managed units, their lifecycle, restart policy,
// worker pools and the ports through which logs, health and limits plug in.
export * from "./ports.ts";
export * from "./lifecycle.ts";
export * from "./restart.ts";
export * from "./spec.ts";
export { resolveExecutable } from "./executable.ts";
export * from "./event-hub.ts";
export * from "./unit-events.ts";
export * from "./managed-unit.ts";
export * from "./supervisor.ts";
export * from "./pool.ts";
export {
  createOsProcessApi,
  describeExit,
  groupMembers,
  signalGroup,
  stopGroup,
  sweepGroup,
  type ExitStatus,
  type GroupExit,
  type GroupProcess,
  type OsProcessApi,
  type OsProcessApiOptions,
  type SpawnRequest,
  type StopOptions,
  type Stoppable,
} from "./os-process.ts";
