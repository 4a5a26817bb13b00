import { validateHealthCheckSpec } from "@hsu/client";
import type { UnitConfig } from "../config/index.ts";

/**
 * The supervisor's managed-unit spec for a configured unit (the master starts it, in dependency order).
 * Its health check is the library's validated HealthCheckSpec - checked when hsu.yaml was loaded, so
 * building the monitor from it later cannot fail.
 */
export function toManagedSpec(cfg: UnitConfig, extraEnv: Record<string, string> = {}): Record<string, unknown> {
  return {
    ...toManagedInput(cfg, extraEnv),
    ...(cfg.limits ? { limits: toLimitsInput(cfg.limits) } : {}),
    ...(cfg.healthCheck ? { healthCheck: validateHealthCheckSpec(toHealthInput(cfg.healthCheck), { unit: cfg.id, field: "health_check" }) } : {}),
  };
}

/** The managed-unit spec without limits and health check (each has its own check). */
export function toManagedInput(cfg: UnitConfig, extraEnv: Record<string, string> = {}): Record<string, unknown> {
  return {
    id: cfg.id,
    description: cfg.description,
    executable: cfg.command,
    args: [...cfg.args],
    // HSU_UNIT_ID names the process in the master's records (a pool adds HSU_POOL and HSU_INDEX).
    env: { ...cfg.env, HSU_UNIT_ID: cfg.id, ...extraEnv },
    envMode: cfg.envMode,
    cwd: cfg.cwd,
    autoStart: false,
    gracefulTimeoutMs: cfg.gracefulTimeoutMs,
    stopSignal: cfg.stopSignal,
    ...(cfg.nice !== undefined ? { nice: cfg.nice } : {}),
    shell: cfg.shell,
    restart: {
      policy: cfg.restart.policy,
      ...(cfg.restart.maxRetries > 0 ? { maxRetries: cfg.restart.maxRetries } : {}),
      delayMs: cfg.restart.delayMs,
      backoffMultiplier: cfg.restart.backoffMultiplier,
      maxDelayMs: cfg.restart.maxDelayMs,
      breaker: { ...cfg.restart.breaker },
    },
    stdout: cfg.stdout,
    stderr: cfg.stderr,
    // Names and how, never values: the master's credential provider decrypts them at each start.
    ...(cfg.secrets?.length ? { credentials: cfg.secrets } : {}),
  };
}

/**
 * The managed-unit spec of one process of an integrated unit (`id` is the
 * unit's, or a replica's `<unit>-<i>`): the managed spec plus the unit
 * contract's environment (`contract`: HSU_LISTEN, HSU_MASTER_ADDR, HSU_TOKEN,
 * HSU_INDEX...), and a grpc health check aimed at the address the unit
 * registers when hsu.yaml names none. No HSU_MASTER_PID: the process must
 * outlive a master crash to be re-adopted.
 */
export function toIntegratedSpec(cfg: UnitConfig, id: string, contract: Record<string, string>): Record<string, unknown> {
  // The health check is built per process once the address is known (a grpc check may leave it out), so it is not checked here.
  return {
    ...toManagedInput(cfg, { HSU_UNIT_ID: id, ...contract }),
    ...(cfg.limits ? { limits: toLimitsInput(cfg.limits) } : {}),
    id,
    healthCheck: integratedHealth(cfg),
  };
}

/** An integrated unit's health check input, before the registered address is known. */
export function integratedHealth(cfg: UnitConfig): Record<string, unknown> {
  return cfg.healthCheck ? toHealthInput(cfg.healthCheck) : { type: "grpc" };
}

/** The unmanaged-unit input for a configured unit. */
export function toUnmanagedInput(cfg: UnitConfig): { id: string } & Record<string, unknown> {
  return {
    id: cfg.id,
    ...cfg.locate,
    canTerminate: cfg.canTerminate,
    stopSignal: cfg.stopSignal,
    gracefulTimeoutMs: cfg.gracefulTimeoutMs,
    ...(cfg.limits ? { limits: toLimitsInput(cfg.limits) } : {}),
  };
}

/** hsu.yaml's health_check (durations already in ms) as the library's HealthCheckSpec input. */
export function toHealthInput(h: Readonly<Record<string, unknown>>, registeredAddress?: string): Record<string, unknown> {
  const { interval, timeout, initialDelay, expectStatus, ...rest } = h as Record<string, unknown>;
  return {
    ...rest,
    ...(interval !== undefined ? { intervalMs: interval } : {}),
    ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
    ...(initialDelay !== undefined ? { initialDelayMs: initialDelay } : {}),
    ...(expectStatus !== undefined ? { expectStatus } : {}),
    ...(rest.type === "grpc" && !rest.address && registeredAddress ? { address: registeredAddress } : {}),
  };
}

/** hsu.yaml's limits (sizes in bytes, durations in ms) as the library's ResourceLimits input. */
export function toLimitsInput(l: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const rename: Record<string, string> = {
    cpu: "cpuCores",
    memory: "memoryBytes",
    memorySwap: "memorySwapBytes",
    maxAddressSpace: "maxAddressSpaceBytes",
    checkInterval: "checkIntervalMs",
  };
  return Object.fromEntries(Object.entries(l).map(([k, v]) => [rename[k] ?? k, v]));
}
