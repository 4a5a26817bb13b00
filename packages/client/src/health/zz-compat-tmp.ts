import type { HealthMonitorFactory, LogSink } from "../supervisor/ports.ts";
import type { Clock as SupClock } from "../supervisor/clock.ts";
import { createHealthMonitor, validateHealthCheckSpec } from "./index.ts";
import { createLogCollector } from "../logs/index.ts";
declare const supClock: SupClock;
const spec = validateHealthCheckSpec({ type: "process" }, { unit: "a", field: "h" });
export const f: HealthMonitorFactory = (_unit, target) => createHealthMonitor(spec, target, { clock: supClock });
export const s: LogSink = createLogCollector({});
