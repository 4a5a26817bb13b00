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
export {
  signalProcessGroup,
  stopHandle,
  type ExitStatus,
  type SignalGroup,
  type StartUnit,
  type StopHandleOptions,
  type UnitHandle,
} from "./handle.ts";
export { createLaunchStart, type LaunchStartOptions } from "./launch-start.ts";
// For other libraries and tests: the building blocks.
export { createWakeTransport, type CallLease, type LeaseSource } from "./wake-transport.ts";
export { integratedInputs, integratedStates, transition } from "./lifecycle.ts";
