import { HsuError } from "../errors.ts";

/** What a dependency must reach before its dependent starts. */
export type DependencyCondition = "started" | "healthy" | "completed";

/** A unit in the dependency graph. */
export interface GraphUnit {
  readonly id: string;
  readonly dependsOn: readonly { readonly unit: string; readonly condition: DependencyCondition }[];
}

/** A checked dependency graph: no cycles, no missing units. */
export interface DependencyGraph {
  readonly units: ReadonlyMap<string, GraphUnit>;
  /** Units that depend on each unit. */
  readonly dependents: ReadonlyMap<string, readonly string[]>;
  /** Start order in waves: every unit of a wave depends only on earlier waves. */
  readonly waves: readonly (readonly string[])[];
}

/**
 * Checks the graph and orders it. A missing dependency or a cycle is an
 * `invalid_config` error listing every problem - before anything starts.
 */
export function buildDependencyGraph(units: readonly GraphUnit[]): DependencyGraph {
  const byId = new Map(units.map((u) => [u.id, u]));
  const problems: string[] = [];
  for (const u of units) {
    for (const d of u.dependsOn) {
      if (d.unit === u.id) problems.push(`unit "${u.id}" depends on itself`);
      else if (!byId.has(d.unit)) problems.push(`unit "${u.id}" depends on "${d.unit}", which does not exist`);
    }
  }
  const dependents = new Map<string, string[]>(units.map((u) => [u.id, []]));
  for (const u of units) for (const d of u.dependsOn) if (byId.has(d.unit) && d.unit !== u.id) dependents.get(d.unit)!.push(u.id);

  // Kahn's algorithm by waves; whatever is left over sits on a cycle.
  const remaining = new Map(units.map((u) => [u.id, new Set(u.dependsOn.map((d) => d.unit).filter((d) => byId.has(d) && d !== u.id))]));
  const waves: string[][] = [];
  for (;;) {
    const wave = [...remaining].filter(([, deps]) => deps.size === 0).map(([id]) => id).sort();
    if (wave.length === 0) break;
    waves.push(wave);
    for (const id of wave) {
      remaining.delete(id);
      for (const dep of dependents.get(id)!) remaining.get(dep)?.delete(id);
    }
  }
  if (remaining.size) problems.push(`dependency cycle: ${describeCycle(remaining)}`);
  if (problems.length) throw new HsuError("invalid_config", problems.join("; "), { field: "depends_on" });
  return { units: byId, dependents, waves };
}

function describeCycle(remaining: Map<string, Set<string>>): string {
  const start = [...remaining.keys()].sort()[0]!;
  const path = [start];
  for (let cur = start; ; ) {
    const next = [...remaining.get(cur)!].sort()[0]!;
    const seen = path.indexOf(next);
    if (seen >= 0) return [...path.slice(seen), next].join(" -> ");
    path.push(next);
    cur = next;
  }
}

/** How the runner starts and stops units and waits on conditions. */
export interface DependencyActions {
  start(id: string): Promise<void>;
  /** Resolves once `id` reached `condition`; rejects when it never will (it failed). */
  reached(id: string, condition: DependencyCondition): Promise<void>;
  stop(id: string): Promise<void>;
}

/**
 * Starts every unit as soon as all its dependencies reached their
 * conditions: independent units start in parallel. A unit whose dependency
 * failed is not started; the error names the chain.
 */
export async function startInOrder(graph: DependencyGraph, actions: DependencyActions, only?: ReadonlySet<string>): Promise<void> {
  const started = new Map<string, Promise<void>>();
  const startOne = (id: string): Promise<void> => {
    let p = started.get(id);
    if (!p) {
      const unit = graph.units.get(id)!;
      p = (async () => {
        await Promise.all(
          unit.dependsOn.map(async (d) => {
            await startOne(d.unit);
            try {
              await actions.reached(d.unit, d.condition);
            } catch (e) {
              throw new HsuError("failed_precondition", `not started: dependency "${d.unit}" did not become ${d.condition}: ${(e as Error).message}`, { unit: id }, { cause: e });
            }
          }),
        );
        await actions.start(id);
      })();
      started.set(id, p);
    }
    return p;
  };
  const targets = only ? [...only] : [...graph.units.keys()];
  const results = await Promise.allSettled(targets.map(startOne));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length) {
    throw new HsuError("failed_precondition", failed.map((f) => (f.reason as Error).message).join("; "), {}, { cause: failed[0]!.reason });
  }
}

/** Stops units in reverse order: a unit stops only after everything that depends on it has stopped. */
export async function stopInReverse(graph: DependencyGraph, actions: Pick<DependencyActions, "stop">, only?: ReadonlySet<string>): Promise<void> {
  const stopped = new Map<string, Promise<void>>();
  const stopOne = (id: string): Promise<void> => {
    let p = stopped.get(id);
    if (!p) {
      p = (async () => {
        await Promise.allSettled(graph.dependents.get(id)!.filter((d) => !only || only.has(d)).map(stopOne));
        await actions.stop(id);
      })();
      stopped.set(id, p);
    }
    return p;
  };
  const targets = only ? [...only] : [...graph.units.keys()];
  const results = await Promise.allSettled(targets.map(stopOne));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length) throw HsuError.from(failed[0]!.reason);
}
