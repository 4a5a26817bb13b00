import { HsuError, type Supervisor, type UnitSnapshot } from "@hsu/client";
import type { UnitConfig } from "../config/index.ts";
import { exitText, type Condition, type MasterEvent, type Slot, type SlotKind, type UnitView } from "./slot.ts";

/** Maps a supervisor snapshot to a view. */
export function managedView(s: UnitSnapshot, cfg: UnitConfig, kind: SlotKind, pool = ""): UnitView {
  return {
    id: s.id,
    kind,
    state: s.state,
    pid: s.pid,
    startedAt: s.pid !== undefined ? s.startedAt : undefined,
    restarts: s.restarts,
    health: s.health ?? "",
    address: "",
    // A process that never ran has no code or signal: its reason is its last exit ("not started: ...").
    lastExit: s.lastExit ? exitText(s.lastExit.code, s.lastExit.signal) || `not started: ${s.lastExit.reason}` : "",
    pool,
    description: cfg.description,
    nextRun: undefined,
  };
}

/** Waits until a supervised unit reaches a dependency condition. */
export async function managedReached(supervisor: Supervisor, id: string, condition: Condition, signal: AbortSignal): Promise<void> {
  const unit = supervisor.unit(id);
  const s = await unit.waitFor((snap) => {
    if (snap.state === "failed") return true;
    if (condition === "started") return snap.state === "running" || snap.state === "ready";
    if (condition === "healthy") return snap.state === "ready" || ((snap.state === "running") && (snap.health === "healthy" || !unit.spec.healthCheck));
    return snap.state === "exited" || snap.state === "stopped";
  }, signal);
  if (s.state === "failed") throw new HsuError("unavailable", `failed: ${s.lastExit?.reason ?? "see its logs"}`, { unit: id });
  if (condition === "completed" && s.lastExit?.code !== 0) {
    throw new HsuError("failed_precondition", `did not complete successfully (${exitText(s.lastExit?.code, s.lastExit?.signal) || "no exit"})`, { unit: id });
  }
}

/** Relays a supervised unit's events as master events. */
export function relayManaged(supervisor: Supervisor, id: string, emit: (e: MasterEvent) => void): () => void {
  return supervisor.unit(id).onEvent((e) => {
    if (e.from === e.to && e.type !== "warning" && e.type !== "limit_violation") return;
    emit({
      unit: e.unit,
      from: e.from,
      to: e.to,
      reason: e.type === "warning" || e.type === "limit_violation" ? `${e.type}: ${e.reason}` : e.reason,
      time: e.time,
      ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
      ...(e.signal !== undefined ? { signal: e.signal } : {}),
      restarts: e.restartCount,
    });
  });
}

/** A plain managed unit. */
export async function createManagedSlot(
  cfg: UnitConfig,
  supervisor: Supervisor,
  spec: Record<string, unknown>,
  emit: (e: MasterEvent) => void,
): Promise<Slot> {
  await supervisor.add(spec);
  const off = relayManaged(supervisor, cfg.id, emit);
  return {
    id: cfg.id,
    config: cfg,
    up: async () => {
      if (cfg.autoStart) await supervisor.start(cfg.id);
    },
    start: async () => {
      const s = supervisor.get(cfg.id);
      if (s.state === "failed" || s.state === "exited") supervisor.reset(cfg.id);
      await supervisor.start(cfg.id);
    },
    stop: async () => void (await supervisor.stop(cfg.id)),
    restart: async () => void (await supervisor.restart(cfg.id)),
    reached: (condition, signal) => managedReached(supervisor, cfg.id, condition, signal),
    views: () => [managedView(supervisor.get(cfg.id), cfg, "managed")],
    close: async () => {
      await supervisor.remove(cfg.id);
      off();
    },
  };
}
