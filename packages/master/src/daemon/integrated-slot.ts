import {
  createHealthMonitor,
  createIntegratedUnit,
  createRegisteredHealthMonitor,
  createSupervisedStart,
  HsuError,
  openUnitRecord,
  validateHealthCheckSpec,
  type IntegratedUnit,
  type ReconfigureCall,
  type Registrar,
  type Supervisor,
  type SupervisedStart,
} from "@hsu/client";
import { join } from "node:path";
import type { UnitConfig } from "../config/index.ts";
import { managedView, relayManaged } from "./managed-slot.ts";
import type { MasterEvent, Slot, UnitView } from "./slot.ts";
import { integratedHealth, toHealthInput, toIntegratedSpec } from "./unit-specs.ts";

/** An integrated slot also hands out leases on its processes (for the unit proxy). */
export interface IntegratedSlot extends Slot {
  /**
   * Wakes the process `unit` is (the unit itself, or one replica `<id>-<i>`;
   * the pool's own id picks a ready replica, round robin) and counts one call
   * in flight until `release`.
   */
  lease(unit: string, signal: AbortSignal): Promise<{ address: string; release(): void }>;
  /**
   * A lease for someone who calls the process's address directly (a gateway's
   * direct grants): it never wakes anything (undefined unless the process
   * `unit` names - the unit, or one replica, never a pool's own id - runs),
   * it keeps the process from idling out until `release`, and `onLeaving` is
   * called once, at the first change of that process's state (stopping,
   * exited, closed), so the holder stops using the address before a drain
   * waits on it.
   */
  hold(unit: string, onLeaving: () => void): Promise<{ address: string; release(): void } | undefined>;
  /** Whether every process of the unit runs, so a Reconfigure can reach each one. */
  reconfigurable(): boolean;
  /**
   * Core Reconfigure on every running process (replicas in parallel); rejects
   * (an HsuError) when any of them is not running, has no reload hook, or refused.
   */
  reconfigure(request: ReconfigureCall): Promise<void>;
}

/** What an integrated slot runs on. */
export interface IntegratedSlotOptions {
  cfg: UnitConfig;
  /** The master's one supervisor: every process of the unit is a managed unit in it. */
  supervisor: Supervisor;
  registrar: Registrar;
  /** Where Unix sockets go. */
  socketDir: string;
  /** Where each unit's token and last registered address are kept (`integrated/<id>.json`, mode 0600). */
  stateDir: string;
  /** Whether a live process of this id was left by the previous master (it is taken over at `up`). */
  adoptable: (id: string) => boolean;
  emit: (e: MasterEvent) => void;
}

/** One process of the unit: a managed unit of the supervisor plus what the integrated kind adds. */
interface Member {
  readonly id: string;
  /** Why the last start failed; cleared by the next handshake. */
  readonly startError: string | undefined;
  readonly unit: IntegratedUnit;
  readonly supervised: SupervisedStart;
  readonly off: () => void;
}

/**
 * An integrated unit (or `replicas` of it): each process is a managed unit of
 * the master's supervisor - restart policy, limits, health (by default the
 * grpc check at the address the unit registered), stop signal, nice, output
 * capture and re-adoption are the supervisor's - and the integrated layer
 * adds the handshake, wake on call and idle stop on top.
 */
export async function createIntegratedSlot(o: IntegratedSlotOptions): Promise<IntegratedSlot> {
  const { cfg, supervisor } = o;
  const pooled = cfg.replicas !== undefined;
  const ids = pooled ? Array.from({ length: cfg.replicas! }, (_, i) => `${cfg.id}-${i}`) : [cfg.id];
  const members: Member[] = [];
  try {
    for (const [index, id] of ids.entries()) members.push(await createMember(o, id, pooled ? index : undefined));
  } catch (e) {
    for (const m of members) await closeMember(supervisor, m);
    throw e;
  }
  let next = 0;

  const member = (id: string): Member => {
    const m = members.find((x) => x.id === id);
    if (!m) throw new HsuError("not_found", `no unit "${id}"; \`hsu ps\` lists them`, { unit: id });
    return m;
  };
  // `hsu start|stop|restart <replica>` acts on that replica alone; the pool's id on every one.
  const addressed = (one: string | undefined): Member[] => (one === undefined || one === cfg.id ? [...members] : [member(one)]);
  // The pool's own id: a replica that runs, round robin; none runs: wake the next one.
  const pick = (): Member => {
    if (members.length === 0) throw new HsuError("unavailable", "the pool has no replicas (it was scaled to 0)", { unit: cfg.id });
    const up = members.filter((m) => m.unit.state === "running");
    const from = up.length ? up : members;
    return from[next++ % from.length]!;
  };
  const view = (m: Member): UnitView => {
    const s = supervisor.get(m.id);
    const v = managedView(s, cfg, "integrated", pooled ? cfg.id : "");
    // Why the last wake-up failed goes with the exit it ended in (ps would otherwise show only "code 3").
    const lastExit = m.startError ? `${v.lastExit || "no exit"}; ${m.startError.replace(` (${v.lastExit})`, "")}` : v.lastExit;
    // An integrated unit at rest wakes on the next call: that is what `idle` says.
    return { ...v, state: s.state === "stopped" ? "idle" : s.state, address: m.supervised.current?.info.address ?? "", lastExit };
  };

  // Scale calls run one at a time, so the replica list never goes through odd states.
  let scaling: Promise<unknown> = Promise.resolve();
  const scale = (n: number): Promise<void> => {
    if (!Number.isInteger(n) || n < 0) {
      return Promise.reject(new HsuError("invalid_argument", `replica count must be a whole number >= 0 (got ${n})`, { unit: cfg.id }));
    }
    const step = scaling.then(async () => {
      while (members.length < n) {
        const m = await createMember(o, `${cfg.id}-${members.length}`, members.length);
        members.push(m);
        if (!cfg.onDemand) await m.unit.start();
      }
      while (members.length > n) await closeMember(supervisor, members.pop()!);
    });
    scaling = step.catch(() => undefined);
    return step;
  };
  const slot: IntegratedSlot = {
    id: cfg.id,
    config: cfg,
    async lease(unit, signal) {
      const m = unit === cfg.id && pooled ? pick() : member(unit);
      return m.unit.lease(signal);
    },
    async hold(unit, onLeaving) {
      const m = pooled && unit === cfg.id ? undefined : members.find((x) => x.id === unit);
      if (!m || m.unit.state !== "running") return undefined;
      // Taken while the process runs, so the lease is on it (a running unit's lease never waits).
      const lease = await m.unit.lease();
      if (m.unit.state !== "running") {
        lease.release();
        return undefined;
      }
      let left = false;
      const off = m.unit.on((e) => {
        if (left || e.state === "running") return;
        left = true;
        off();
        onLeaving();
      });
      return {
        address: lease.address,
        release: () => {
          off();
          lease.release();
        },
      };
    },
    up: async () => {
      await Promise.all(
        members.map(async (m) => {
          if (cfg.autoStart && !cfg.onDemand) return void (await m.unit.start());
          // A process of the previous master: taken over now (and left to idle out as usual).
          if (o.adoptable(m.id)) await m.unit.start().catch(() => undefined);
        }),
      );
    },
    start: async (one) => void (await Promise.all(addressed(one).map((m) => m.unit.start()))),
    stop: async (one) => {
      await Promise.all(
        addressed(one).map(async (m) => {
          await m.unit.stop();
          // A process that had not registered yet is the supervisor's alone to stop.
          await supervisor.stop(m.id);
        }),
      );
    },
    restart: async (one) => {
      await Promise.all(
        addressed(one).map(async (m) => {
          if (m.unit.state === "running") {
            // New calls wait for the next process; those already on their way to this one finish first
            // (at most upgrade.drain_timeout, else graceful_timeout), then Core Shutdown drains it: a restart
            // (an upgrade) loses no call.
            await m.unit.stop({ drainMs: cfg.upgrade.drainTimeoutMs ?? cfg.gracefulTimeoutMs });
          } else await supervisor.restart(m.id);
          await m.unit.start();
        }),
      );
    },
    reached: async (condition) => {
      if (condition === "completed") throw new HsuError("failed_precondition", "an integrated unit never completes; depend on it as started or healthy", { unit: cfg.id });
      await Promise.all(members.map((m) => m.unit.start()));
    },
    views: () => members.map(view),
    reconfigurable: () => members.length > 0 && members.every((m) => m.unit.state === "running"),
    reconfigure: async (request) => void (await Promise.all(members.map((m) => m.unit.reconfigure(request)))),
    close: async () => {
      await scaling;
      for (const m of members.splice(0)) await closeMember(supervisor, m);
    },
  };
  // A pool of integrated units scales like any pool (`hsu scale`).
  if (pooled) Object.defineProperties(slot, { scale: { value: scale }, size: { get: () => members.length } });
  return slot;
}

async function createMember(o: IntegratedSlotOptions, id: string, index: number | undefined): Promise<Member> {
  const { cfg, supervisor, registrar } = o;
  const record = openUnitRecord(join(o.stateDir, "integrated", `${id}.json`));
  const supervised = createSupervisedStart({
    id,
    registrar,
    record,
    handshakeTimeoutMs: cfg.startTimeoutMs,
    shutdownDeadlineMs: Math.max(1, Math.min(5000, cfg.gracefulTimeoutMs)),
  });
  const contract: Record<string, string> = {
    HSU_LISTEN: cfg.listen === "tcp" ? "127.0.0.1:0" : `unix:${join(o.socketDir, `${id}.sock`)}`,
    HSU_MASTER_ADDR: registrar.address,
    HSU_TOKEN: record.token,
    ...(index === undefined ? {} : { HSU_POOL: cfg.id, HSU_INDEX: String(index) }),
  };
  const health = integratedHealth(cfg);
  await supervisor.add(toIntegratedSpec(cfg, id, contract), {
    drain: supervised.drain,
    healthMonitorFactory: (unit, target) =>
      createRegisteredHealthMonitor(supervised.addressOf(target.pid), (address) =>
        createHealthMonitor(validateHealthCheckSpec(toHealthInput(health, address), { unit, field: "health_check" }), target),
      ),
  });
  const managed = supervisor.unit(id);
  supervised.bind(managed);
  const unit = createIntegratedUnit({
    id,
    start: supervised.start,
    startTimeoutMs: cfg.startTimeoutMs,
    idleTimeoutMs: cfg.idleTimeoutMs ?? Number.POSITIVE_INFINITY,
    killGraceMs: cfg.gracefulTimeoutMs,
  });
  const relay = relayManaged(supervisor, id, o.emit);
  // The supervisor brought the unit back on its own (restart policy): hold it, so it idles out like any other start.
  const offReady = managed.onEvent((e) => {
    if (e.type === "ready" && e.from === "running" && unit.state === "stopped") void unit.start().catch(() => undefined);
  });
  let startError: string | undefined;
  const offStart = unit.on((e) => {
    if (e.type === "start_failed") startError = e.error?.message.replace(`unit "${id}": `, "").replace(/^failed to start: /, "");
    if (e.type === "ready") startError = undefined;
  });
  return {
    id,
    unit,
    supervised,
    get startError() {
      return startError;
    },
    off: () => {
      relay();
      offReady();
      offStart();
    },
  };
}

async function closeMember(supervisor: Supervisor, m: Member): Promise<void> {
  await m.unit.close();
  await supervisor.remove(m.id);
  m.supervised.close();
  m.off();
}
