// Health checks for supervised units: validate a check from config, run one
// probe, or keep a HealthMonitor that turns probe results into a status.
export { createHealthMonitor, type HealthMonitor, type HealthMonitorOptions, type HealthStatus } from "./monitor.ts";
export { runHealthCheck } from "./run.ts";
export { checkHealthCheckSpec, validateHealthCheckSpec } from "./validate.ts";
export { createProbe, type Probe, type ProbeResult } from "./probes/index.ts";
export {
  healthCheckDefaults,
  type ExecCheck,
  type GrpcCheck,
  type HealthCheckSpec,
  type HealthCheckTiming,
  type HttpCheck,
  type ProcessCheck,
  type TcpCheck,
} from "./spec.ts";
