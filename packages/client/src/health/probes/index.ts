import type { HealthCheckSpec } from "../spec.ts";
import { createExecProbe } from "./exec.ts";
import { createGrpcProbe } from "./grpc.ts";
import { createHttpProbe } from "./http.ts";
import { createProcessProbe } from "./process.ts";
import { createTcpProbe } from "./tcp.ts";
import type { Probe } from "./types.ts";

export type { Probe, ProbeResult } from "./types.ts";

/** Builds the probe for a validated spec; `target.pid` is read at each run, so it may change. */
export function createProbe(spec: HealthCheckSpec, target: { pid: number }): Probe {
  switch (spec.type) {
    case "process":
      return createProcessProbe(target);
    case "http":
      return createHttpProbe(spec);
    case "tcp":
      return createTcpProbe(spec);
    case "exec":
      return createExecProbe(spec);
    case "grpc":
      return createGrpcProbe(spec);
  }
}
