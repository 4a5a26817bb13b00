import { createCronSchedule, type CronSchedule, type Supervisor } from "@hsu/client";
import type { UnitConfig } from "../config/index.ts";
import { managedView, relayManaged } from "./managed-slot.ts";
import type { MasterEvent, Slot } from "./slot.ts";

/** A batch unit run on a cron schedule (each run is one start of the managed unit). */
export async function createScheduledSlot(
  cfg: UnitConfig,
  supervisor: Supervisor,
  spec: Record<string, unknown>,
  emit: (e: MasterEvent) => void,
): Promise<Slot> {
  const schedule = cfg.schedule!;
  await supervisor.add({ ...spec, restart: { ...(spec.restart as object), policy: "never" } });
  const off = relayManaged(supervisor, cfg.id, emit);
  const unit = supervisor.unit(cfg.id);
  const runOnce = async (signal: AbortSignal) => {
    const s0 = supervisor.get(cfg.id);
    if (s0.state === "exited" || s0.state === "failed") supervisor.reset(cfg.id);
    const onAbort = () => void supervisor.stop(cfg.id);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await supervisor.start(cfg.id, );
      const s = await unit.waitFor((snap) => ["exited", "stopped", "failed"].includes(snap.state));
      return { exitCode: s.lastExit?.code ?? null, signal: s.lastExit?.signal ?? null };
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  };
  let cron: CronSchedule | undefined;
  const arm = () => {
    cron ??= createCronSchedule({
      unit: cfg.id,
      cron: schedule.cron,
      ...(schedule.timezone ? { timezone: schedule.timezone } : {}),
      overlap: schedule.overlap,
      history: schedule.history,
      run: runOnce,
    });
    cron.onRun((r) =>
      emit({ unit: cfg.id, from: "scheduled", to: "scheduled", reason: `run due ${new Date(r.dueAt).toISOString()}: ${r.outcome} (${r.detail})`, time: Date.now(), restarts: 0 }),
    );
  };
  return {
    id: cfg.id,
    config: cfg,
    up: async () => {
      if (cfg.autoStart) arm();
    },
    start: async () => arm(),
    stop: async () => {
      await cron?.stop(true);
      cron = undefined;
      await supervisor.stop(cfg.id);
    },
    restart: async () => {
      await cron?.stop(true);
      cron = undefined;
      arm();
    },
    reached: async () => {},
    views: () => {
      const v = managedView(supervisor.get(cfg.id), cfg, "scheduled");
      if (cron && v.pid === undefined) v.state = "scheduled";
      v.nextRun = cron?.nextRun();
      const last = cron?.history().at(-1);
      if (last && !v.lastExit) v.lastExit = last.detail;
      return [v];
    },
    close: async () => {
      await cron?.stop(true);
      await supervisor.remove(cfg.id);
      off();
    },
  };
}
