import type { SpecIssue } from "./issues.ts";
import { closest } from "./closest.ts";

/** A unit as the dependency rules see it. */
export interface DependencyNode {
  readonly id: string;
  readonly dependsOn: readonly { readonly unit: string; readonly condition: "started" | "healthy" | "completed" }[];
  /** Whether the unit can become healthy: a health check, or a handshake (integrated units). */
  readonly canBeHealthy: boolean;
}

/**
 * The rules a set of units must follow to start in order: every dependency
 * exists, none is the unit itself, there is no cycle, and a `healthy`
 * dependency can become healthy. Fields are `<id>.depends_on`.
 */
export function checkDependencies(nodes: readonly DependencyNode[]): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const n of nodes) {
    for (const d of n.dependsOn) {
      const field = `${n.id}.depends_on`;
      const target = byId.get(d.unit);
      if (d.unit === n.id) issues.push({ field, message: `"${n.id}" cannot depend on itself` });
      else if (!target) {
        const near = closest(d.unit, [...byId.keys()]);
        issues.push({ field, message: `depends on "${d.unit}", which is not a unit in this file${near ? ` (did you mean "${near}"?)` : ""}` });
      } else if (d.condition === "healthy" && !target.canBeHealthy) {
        issues.push({ field, message: `waits for "${d.unit}" to be healthy, but "${d.unit}" has no health_check: give it one, or depend on it being "started"` });
      }
    }
  }
  // Depth-first search for cycles, iterative so a long chain cannot overflow the stack.
  const state = new Map<string, "visiting" | "done">();
  for (const root of nodes) {
    if (state.has(root.id)) continue;
    const stack: { id: string; next: number }[] = [{ id: root.id, next: 0 }];
    state.set(root.id, "visiting");
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const deps = byId.get(top.id)!.dependsOn.map((d) => d.unit).filter((u) => byId.has(u) && u !== top.id);
      if (top.next >= deps.length) {
        state.set(top.id, "done");
        stack.pop();
        continue;
      }
      const d = deps[top.next++]!;
      if (state.get(d) === "visiting") {
        const path = stack.map((s) => s.id);
        const cycle = [...path.slice(path.indexOf(d)), d];
        issues.push({ field: `${d}.depends_on`, message: `dependency cycle: ${cycle.join(" -> ")}` });
      } else if (!state.has(d)) {
        state.set(d, "visiting");
        stack.push({ id: d, next: 0 });
      }
    }
  }
  return issues;
}
