import { createPool, HsuError, type Supervisor } from "@hsu/client";
import type { UnitConfig } from "../config/index.ts";
import { managedReached, managedView, relayManaged } from "./managed-slot.ts";
import type { MasterEvent, Slot, UnitView } from "./slot.ts";

/** A pool slot also scales. */
export interface PoolSlot extends Slot {
  scale(n: number): Promise<void>;
  readonly size: number;
}

/** A worker pool: `replicas` copies of one spec, each with HSU_INDEX. */
export async function createPoolSlot(
  cfg: UnitConfig,
  supervisor: Supervisor,
  template: Record<string, unknown>,
  emit: (e: MasterEvent) => void,
): Promise<PoolSlot> {
  const { id: _id, ...rest } = template;
  const pool = await createPool({ supervisor, name: cfg.id, template: rest, replicas: 0 });
  const relays = new Map<string, () => void>();
  const syncRelays = () => {
    const ids = new Set(pool.ids());
    for (const id of ids) if (!relays.has(id)) relays.set(id, relayManaged(supervisor, id, emit));
    for (const [id, off] of relays) if (!ids.has(id)) (off(), relays.delete(id));
  };
  let wanted = cfg.replicas ?? 1;
  const startAll = async () => {
    await Promise.all(pool.ids().map((id) => supervisor.start(id)));
  };
  // A replica id addresses that replica only; no id, the whole pool.
  const members = (member?: string): string[] => {
    if (member === undefined) return pool.ids();
    if (!pool.ids().includes(member)) throw new HsuError("not_found", `no replica "${member}" in pool "${cfg.id}"`, { unit: member });
    return [member];
  };
  const slot: PoolSlot = {
    id: cfg.id,
    config: cfg,
    get size() {
      return pool.size;
    },
    async scale(n) {
      wanted = n;
      await pool.scale(n);
      syncRelays();
      await startAll();
    },
    up: async () => {
      if (!cfg.autoStart) return;
      await slot.scale(wanted);
    },
    start: async (member) => {
      if (member === undefined && pool.size !== wanted) await slot.scale(wanted);
      for (const id of members(member)) {
        const s = supervisor.get(id).state;
        if (s === "failed" || s === "exited") supervisor.reset(id);
      }
      await Promise.all(members(member).map((id) => supervisor.start(id)));
    },
    stop: async (member) => {
      await Promise.all(members(member).map((id) => supervisor.stop(id)));
    },
    restart: async (member) => {
      await Promise.all(members(member).map((id) => supervisor.restart(id)));
    },
    reached: async (condition, signal) => {
      await Promise.all(pool.ids().map((id) => managedReached(supervisor, id, condition, signal)));
    },
    views: (): UnitView[] => pool.ids().map((id) => managedView(supervisor.get(id), cfg, "pool_replica", cfg.id)),
    close: async () => {
      await pool.close();
      syncRelays();
    },
  };
  return slot;
}
