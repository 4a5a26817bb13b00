import { attachUnmanaged, createHealthMonitor, HsuError, type HealthCheckSpec, type HealthMonitor, type ResourceSamplerGroup, type UnmanagedUnit } from "@hsu/client";
import { readFileSync } from "node:fs";
import type { UnitConfig } from "../config/index.ts";
import { inHsuYaml } from "./config-key.ts";
import type { MasterEvent, Slot } from "./slot.ts";
import type { UnitState } from "./state.ts";
import { toUnmanagedInput } from "./unit-specs.ts";

/** An already-running process the master watches and, when allowed, stops. */
let bootTimeMs: number | undefined;
/** When a process started (ms epoch), from its start time in clock ticks after boot. */
function startedAtMs(startTicks: number): number | undefined {
  try {
    bootTimeMs ??= Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))![1]) * 1000;
    return bootTimeMs + startTicks * 10;
  } catch {
    return undefined;
  }
}

export function createUnmanagedSlot(cfg: UnitConfig, samplers: ResourceSamplerGroup, emit: (e: MasterEvent) => void, healthCheck?: HealthCheckSpec): Slot {
  let unit: UnmanagedUnit | undefined;
  let health: HealthMonitor | undefined;
  // Health follows the attached process: a new monitor for each pid.
  const watchHealth = (pid: number | undefined) => {
    health?.stop();
    health = undefined;
    if (!healthCheck || pid === undefined) return;
    health = createHealthMonitor(healthCheck, { pid });
    health.onChange((status, detail) => emit({ unit: cfg.id, from: state, to: state, reason: `health ${status}: ${detail}`, time: Date.now(), restarts: 0 }));
    health.start();
  };
  let state: UnitState = "detached";
  let reason = "";
  const set = (to: UnitState, why: string) => {
    emit({ unit: cfg.id, from: state, to, reason: why, time: Date.now(), restarts: 0 });
    state = to;
    reason = why;
  };
  const attach = async () => {
    if (unit) return;
    try {
      unit = await attachUnmanaged(toUnmanagedInput(cfg), {
        samplers,
        onEvent: (e) => {
          if (e.type === "attached") {
            set("attached", `pid ${e.pid} (${e.reason})`);
            watchHealth(e.pid);
          } else if (e.type === "gone") {
            set("gone", `pid ${e.pid}: ${e.reason}`);
            watchHealth(undefined);
          }
          else if (e.type === "limit_violation") emit({ unit: cfg.id, from: state, to: state, reason: `limit_violation: ${e.violation.limit} ${e.violation.value} > ${e.violation.max}`, time: Date.now(), restarts: 0 });
        },
      });
    } catch (e) {
      const err = inHsuYaml(e);
      set("gone", (err as Error).message);
      throw err;
    }
  };
  return {
    id: cfg.id,
    config: cfg,
    up: attach,
    start: attach,
    stop: async () => {
      if (!unit) throw new HsuError("failed_precondition", "not attached", { unit: cfg.id });
      await unit.stop().catch((e: unknown) => {
        throw inHsuYaml(e);
      });
    },
    restart: async () => {
      throw new HsuError("failed_precondition", "an unmanaged unit is never restarted by the master", { unit: cfg.id });
    },
    reached: async (condition) => {
      await attach();
      if (condition === "completed") throw new HsuError("failed_precondition", "an unmanaged unit never completes", { unit: cfg.id });
    },
    views: () => [
      {
        id: cfg.id,
        kind: "unmanaged",
        state,
        pid: unit?.process?.pid,
        startedAt: unit?.process ? startedAtMs(unit.process.startTime) : undefined,
        restarts: 0,
        health: health?.status ?? "",
        address: "",
        lastExit: state === "gone" ? reason : "",
        pool: "",
        description: cfg.description,
        nextRun: undefined,
      },
    ],
    close: async (reason) => {
      try {
        if (reason === "shutdown" && cfg.canTerminate && unit?.process) await unit.stop();
      } finally {
        watchHealth(undefined);
        unit?.detach();
        unit = undefined;
      }
    },
  };
}
