// For users: write a unit.
export { serveUnit, unitService, type RunningUnit, type ServeUnitOptions, type UnitService, type UnitStop } from "./serve-unit.ts";
export { readConfigDir, type LoadedConfigFile, type ReconfigureEvent, type ReconfigureHandler } from "./reconfigure.ts";
export { readUnitEnvironment, UnitEnvironmentError, type UnitEnvironment } from "./env.ts";
// For other libraries: the pieces serveUnit is made of.
export { HealthRegistry } from "./health.ts";
export { ReflectionIndex } from "./reflection.ts";
export { DrainGate } from "./drain.ts";
export { watchMaster } from "./master-watch.ts";
