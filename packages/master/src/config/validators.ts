import type { RawDeployment, RawUnit } from "./schema.ts";

/** A problem found by a cross-field rule. */
export interface RuleIssue {
  path: string;
  message: string;
}

type Spec = RawDeployment & { units: Record<string, RawUnit> };
type Rule = (spec: Spec) => RuleIssue[];

const LOCATORS = ["pid", "pid_file", "process_name", "command_line", "port"] as const;

function dependencyNames(u: RawUnit): string[] {
  const d = u.depends_on;
  if (!d) return [];
  return Array.isArray(d) ? d : Object.keys(d);
}

/** Named rules that need more than one field; each returns every issue it finds. */
export const validators: Record<string, Rule> = {
  "command-required": (spec) =>
    Object.entries(spec.units)
      .filter(([, u]) => (u.kind ?? "managed") !== "unmanaged" && !u.command)
      .map(([id]) => ({ path: `units.${id}.command`, message: `"command" is required for a ${"managed or integrated"} unit` })),

  "unmanaged-locator": (spec) =>
    Object.entries(spec.units).flatMap(([id, u]) => {
      if (u.kind !== "unmanaged") {
        return LOCATORS.filter((k) => u[k] !== undefined).map((k) => ({
          path: `units.${id}.${k}`,
          message: `"${k}" only applies to unmanaged units (set kind: unmanaged)`,
        }));
      }
      const given = LOCATORS.filter((k) => u[k] !== undefined);
      if (given.length === 1) return [];
      return [{
        path: `units.${id}`,
        message: given.length === 0
          ? `an unmanaged unit needs one of ${LOCATORS.join(", ")} to find its process`
          : `give only one of ${given.join(", ")}`,
      }];
    }),

  "health-check-fields": (spec) =>
    Object.entries(spec.units).flatMap(([id, u]) => {
      const h = u.health_check;
      if (!h?.type) return [];
      const p = `units.${id}.health_check`;
      const need: Record<string, boolean> = {
        http: !!h.url,
        tcp: h.port !== undefined || !!h.path,
        exec: !!h.command,
        grpc: !!h.address || u.kind === "integrated",
        process: true,
      };
      if (need[h.type]) return [];
      const what = { http: "url", tcp: "port (or path)", exec: "command", grpc: "address (only integrated units may omit it)", process: "" }[h.type];
      return [{ path: p, message: `a ${h.type} check needs ${what}` }];
    }),

  "dependencies-exist": (spec) =>
    Object.entries(spec.units).flatMap(([id, u]) =>
      dependencyNames(u)
        .filter((d) => !(d in spec.units) || d === id)
        .map((d) => ({
          path: `units.${id}.depends_on`,
          message: d === id ? `"${id}" cannot depend on itself` : `depends on "${d}", which is not a unit in this file`,
        })),
    ),

  "no-dependency-cycles": (spec) => {
    const issues: RuleIssue[] = [];
    const state = new Map<string, "visiting" | "done">();
    const stack: string[] = [];
    const visit = (id: string) => {
      if (state.get(id) === "done") return;
      if (state.get(id) === "visiting") {
        const cycle = [...stack.slice(stack.indexOf(id)), id];
        issues.push({ path: `units.${id}.depends_on`, message: `dependency cycle: ${cycle.join(" -> ")}` });
        return;
      }
      state.set(id, "visiting");
      stack.push(id);
      for (const d of dependencyNames(spec.units[id]!)) if (d in spec.units && d !== id) visit(d);
      stack.pop();
      state.set(id, "done");
    };
    Object.keys(spec.units).forEach(visit);
    return issues;
  },

  "kind-specific-fields": (spec) =>
    Object.entries(spec.units).flatMap(([id, u]) => {
      const out: RuleIssue[] = [];
      const kind = u.kind ?? "managed";
      const integratedOnly = ["listen", "start_timeout", "idle_timeout", "on_demand"] as const;
      if (kind !== "integrated") {
        for (const k of integratedOnly) if (u[k] !== undefined) out.push({ path: `units.${id}.${k}`, message: `"${k}" only applies to integrated units` });
      }
      if (kind === "unmanaged") {
        for (const k of ["restart", "replicas", "schedule", "command", "args"] as const) {
          if (u[k] !== undefined) out.push({ path: `units.${id}.${k}`, message: `"${k}" does not apply to an unmanaged unit (the master does not start it)` });
        }
      }
      if (u.schedule && u.replicas !== undefined) out.push({ path: `units.${id}.schedule`, message: "a scheduled unit cannot also be a pool (replicas)" });
      if (u.schedule && kind === "integrated") out.push({ path: `units.${id}.schedule`, message: "integrated units start on demand; schedules apply to managed units" });
      return out;
    }),

  "cron-expression": (spec) =>
    Object.entries(spec.units).flatMap(([id, u]) => {
      const cron = u.schedule?.cron;
      if (!cron) return [];
      const fields = cron.trim().split(/\s+/).length;
      return fields === 6 || fields === 5
        ? []
        : [{ path: `units.${id}.schedule.cron`, message: `expected 6 fields "sec min hour day month weekday" (or 5 without seconds), got ${fields}` }];
    }),
};
