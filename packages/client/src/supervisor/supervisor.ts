import { HsuError } from "../errors.ts";
import { createSystemClock } from "../clock.ts";
import { createEventHub } from "./event-hub.ts";
import { createManagedUnit, type ManagedUnit, type ManagedUnitDeps } from "./managed-unit.ts";
import { createOsProcessApi } from "./os-process.ts";
import { validateManagedUnitSpec, type ManagedUnitSpec } from "./spec.ts";
import type { UnitEvent, UnitSnapshot } from "./unit-events.ts";

/** Options of {@link createSupervisor}: the collaborators it hands to every unit; each is optional. */
export type SupervisorOptions = ManagedUnitDeps;

/** Per-unit collaborators that take precedence over the supervisor's. */
export type UnitOverrides = Pick<ManagedUnitDeps, "healthMonitorFactory" | "limitPlanner" | "limitMonitorFactory" | "drain">;

/** Many managed units under one roof, addressed by id. */
export interface Supervisor {
  /**
   * Validates and adds a unit (a raw spec or one from `validateManagedUnitSpec`); starts it
   * when `autoStart`. `overrides` replace supervisor-wide collaborators for this unit only,
   * e.g. a health monitor factory built from this unit's `healthCheck`.
   */
  add(spec: unknown, overrides?: UnitOverrides): Promise<UnitSnapshot>;
  /** Stops the unit gracefully and forgets it. */
  remove(id: string): Promise<void>;
  start(id: string): Promise<UnitSnapshot>;
  stop(id: string): Promise<UnitSnapshot>;
  restart(id: string): Promise<UnitSnapshot>;
  /** Clears a failed (or otherwise not running) unit back to `stopped`, forgetting its restart history. */
  reset(id: string): UnitSnapshot;
  /** The unit's current snapshot; throws `not_found` for an unknown id. */
  get(id: string): UnitSnapshot;
  /** The managed unit itself, for waiting on it or subscribing to it alone. */
  unit(id: string): ManagedUnit;
  /** Snapshots of every unit, in the order they were added. */
  list(): UnitSnapshot[];
  /** Every later event of every unit; stop iterating (or abort) to unsubscribe. */
  events(signal?: AbortSignal): AsyncIterableIterator<UnitEvent>;
  /** Listener form of `events`; returns the unsubscribe function. */
  onEvent(listener: (event: UnitEvent) => void): () => void;
  /** Stops every unit in parallel, waits for all of them, and refuses further work. */
  shutdown(): Promise<void>;
}

/** Creates a supervisor with no units. */
export function createSupervisor(options: SupervisorOptions = {}): Supervisor {
  const deps = { ...options, clock: options.clock ?? createSystemClock(), os: options.os ?? createOsProcessApi() };
  const units = new Map<string, { unit: ManagedUnit; off: () => void }>();
  const hub = createEventHub<UnitEvent>();
  let shuttingDown = false;

  const find = (id: string): ManagedUnit => {
    const entry = units.get(id);
    if (!entry) throw new HsuError("not_found", "no such unit: check the id or add the unit first", { unit: id });
    return entry.unit;
  };
  const open = (what: string): void => {
    if (shuttingDown) throw new HsuError("failed_precondition", `cannot ${what}: the supervisor is shutting down`);
  };

  return {
    async add(input, overrides = {}) {
      open("add a unit");
      const spec: ManagedUnitSpec = validateManagedUnitSpec(input);
      if (units.has(spec.id)) {
        throw new HsuError("already_exists", "a unit with this id is already supervised: remove it first or pick another id", {
          unit: spec.id,
        });
      }
      const unit = createManagedUnit({ spec, ...deps, ...definedOnly(overrides) });
      units.set(spec.id, { unit, off: unit.onEvent((e) => hub.emit(e)) });
      return spec.autoStart ? unit.start("auto start") : unit.snapshot();
    },
    async remove(id) {
      const entry = units.get(id);
      if (!entry) throw new HsuError("not_found", "no such unit to remove", { unit: id });
      await entry.unit.dispose();
      entry.off();
      units.delete(id);
    },
    async start(id) {
      open("start a unit");
      return find(id).start();
    },
    stop: async (id) => find(id).stop(),
    async restart(id) {
      open("restart a unit");
      return find(id).restart();
    },
    reset: (id) => find(id).reset(),
    get: (id) => find(id).snapshot(),
    unit: find,
    list: () => [...units.values()].map((e) => e.unit.snapshot()),
    events: (signal) => hub.iterate(signal),
    onEvent: (listener) => hub.subscribe(listener),
    async shutdown() {
      shuttingDown = true;
      const results = await Promise.allSettled([...units.values()].map((e) => e.unit.stop("supervisor shutdown")));
      const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      for (const { unit, off } of units.values()) {
        await unit.dispose();
        off();
      }
      units.clear();
      hub.close();
      if (failures.length > 0) {
        throw new HsuError("internal", `${failures.length} unit(s) failed to stop during shutdown`, {}, {
          cause: new AggregateError(failures.map((f) => f.reason)),
        });
      }
    },
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
