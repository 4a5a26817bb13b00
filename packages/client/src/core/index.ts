export { connectUnit, type ConnectUnitOptions, type ReconfigureCall, type ReconfigureResult, type UnitClient } from "./unit-client.ts";
export { createRegistrar, type PendingRegistration, type Registrar, type RegistrarOptions } from "./registrar.ts";
export { launchUnit, type EarlyUnit, type LaunchedUnit, type LaunchUnitOptions } from "./launch.ts";
