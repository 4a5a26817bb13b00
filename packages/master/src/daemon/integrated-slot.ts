import { createIntegratedUnit, HsuError, type IntegratedUnit, type LogCollector, type Registrar } from "@hsu/client";
import type { UnitConfig } from "../config/index.ts";
import { exitText, type MasterEvent, type Slot } from "./slot.ts";

/** An integrated slot also hands out its waking transport (for the unit proxy). */
export interface IntegratedSlot extends Slot {
  readonly unit: IntegratedUnit;
}

/** An integrated unit: started on the first call (or at `up` when not on demand), stopped when idle. */
export function createIntegratedSlot(
  cfg: UnitConfig,
  registrar: Registrar,
  socketDir: string,
  logs: LogCollector,
  emit: (e: MasterEvent) => void,
): IntegratedSlot {
  let restarts = 0;
  let lastExit = "";
  let startedAt: number | undefined;
  const unit = createIntegratedUnit({
    id: cfg.id,
    registrar,
    launch: {
      command: cfg.command!,
      args: [...cfg.args],
      cwd: cfg.cwd,
      env: { ...cfg.env },
      inheritEnv: cfg.envMode !== "replace",
      listen: cfg.listen,
      socketDir,
      stdio: "pipe",
      output: (stream, source) => void logs.attach(cfg.id, stream, source),
    },
    startTimeoutMs: cfg.startTimeoutMs,
    idleTimeoutMs: cfg.idleTimeoutMs ?? Number.POSITIVE_INFINITY,
    killGraceMs: cfg.gracefulTimeoutMs,
  });
  let previous = unit.state as string;
  unit.on((e) => {
    if (e.type === "ready") {
      startedAt = e.at;
      restarts++;
    }
    if (e.exit) lastExit = exitText(e.exit.code, e.exit.signal);
    const reason = e.error ? `${e.type}: ${e.error.message}` : e.type;
    emit({ unit: cfg.id, from: previous, to: e.state, reason, time: e.at, restarts: Math.max(0, restarts - 1), ...(e.exit ? { exitCode: e.exit.code, signal: e.exit.signal } : {}) });
    previous = e.state;
  });
  const state = () => (unit.state === "stopped" ? "idle" : unit.state === "running" ? "ready" : unit.state);
  return {
    id: cfg.id,
    config: cfg,
    unit,
    up: async () => {
      if (cfg.autoStart && !cfg.onDemand) await unit.start();
    },
    start: async () => void (await unit.start()),
    stop: () => unit.stop(),
    restart: async () => {
      await unit.stop();
      await unit.start();
    },
    reached: async (condition) => {
      if (condition === "completed") throw new HsuError("failed_precondition", "an integrated unit never completes; depend on it as started or healthy", { unit: cfg.id });
      await unit.start();
    },
    views: () => [
      {
        id: cfg.id,
        kind: "integrated",
        state: state(),
        pid: unit.pid,
        startedAt: unit.pid !== undefined ? startedAt : undefined,
        restarts: Math.max(0, restarts - 1),
        health: "",
        address: unit.info?.address ?? "",
        lastExit,
        pool: "",
        description: cfg.description,
        nextRun: undefined,
      },
    ],
    close: () => unit.close(),
  };
}
