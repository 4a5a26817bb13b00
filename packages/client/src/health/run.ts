import { createProbe, type ProbeResult } from "./probes/index.ts";
import type { HealthCheckSpec } from "./spec.ts";

/**
 * Runs one probe of `spec` against `target` with the spec's timeout (real
 * time) and returns whether it passed; failures are results, not throws.
 * For repeated checks use createHealthMonitor, which keeps connections.
 */
export async function runHealthCheck(spec: HealthCheckSpec, target: { pid: number }, signal?: AbortSignal): Promise<ProbeResult> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new Error(`timed out after ${spec.timeoutMs} ms`)), spec.timeoutMs);
  const probe = createProbe(spec, target);
  try {
    return await probe.run(signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal);
  } finally {
    clearTimeout(timer);
    probe.close();
  }
}
