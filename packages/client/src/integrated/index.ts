// For users: units started on demand and stopped when idle, and discovery of units the master did not start.
export {
  createIntegratedUnit,
  type IntegratedLaunchOptions,
  type IntegratedUnit,
  type IntegratedUnitOptions,
} from "./integrated-unit.ts";
export {
  discoverUnit,
  discoverUnits,
  scanSocketDir,
  type DiscoveredUnit,
  type DiscoverUnitOptions,
  type DiscoveryFailure,
  type DiscoveryResult,
} from "./discovery.ts";
export type { IntegratedEvent, IntegratedEventType, IntegratedListener } from "./events.ts";
export type { IntegratedInput, IntegratedState } from "./lifecycle.ts";
export type { ExitStatus, StartUnit, UnitHandle } from "./handle.ts";
export { createLaunchStart, type LaunchStartOptions } from "./launch-start.ts";
// For other libraries and tests: the building blocks.
export { createWakeTransport, type CallLease, type LeaseSource } from "./wake-transport.ts";
export { integratedInputs, integratedStates, transition } from "./lifecycle.ts";
// For masters: an integrated unit on a managed unit of the supervisor.
export { createSupervisedStart, type SupervisedStart, type SupervisedStartOptions } from "./supervised-start.ts";
export { createRegisteredHealthMonitor } from "./registered-health.ts";
export { openUnitRecord, type Attachment, type UnitRecord } from "./unit-record.ts";
