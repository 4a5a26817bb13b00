import type { RawDeployment, RawUnit } from "./schema.ts";

/** A problem found by a cross-field rule. */
export interface RuleIssue {
  path: string;
  message: string;
}

type Spec = RawDeployment & { units: Record<string, RawUnit> };
type Rule = (spec: Spec) => RuleIssue[];

const LOCATORS = ["pid", "pid_file", "process_name", "command_line", "port", "can_terminate"] as const;
const INTEGRATED_ONLY = ["listen", "idle_timeout", "on_demand"] as const;
// The master does not start an unmanaged unit: how to start and restart it cannot apply.
const NOT_UNMANAGED = ["command", "args", "shell", "cwd", "env", "env_mode", "nice", "stdout", "stderr", "restart", "replicas", "schedule", "env_file", "config"] as const;

/**
 * The rules of the hsu.yaml shape that no library spec can see: which keys a
 * kind of unit honours. Every other rule (required fields, ranges, health
 * check fields, dependencies, cron) is the library's, run by runtime-checks.ts.
 */
export const validators: Record<string, Rule> = {
  "kind-specific-fields": (spec) =>
    Object.entries(spec.units).flatMap(([id, u]) => {
      const out: RuleIssue[] = [];
      const kind = u.kind ?? "managed";
      const at = (k: string) => `units.${id}.${k}`;
      if (kind !== "integrated") {
        for (const k of INTEGRATED_ONLY) if (u[k] !== undefined) out.push({ path: at(k), message: `"${k}" only applies to integrated units` });
      }
      if (kind !== "unmanaged") {
        for (const k of LOCATORS) if (u[k] !== undefined) out.push({ path: at(k), message: `"${k}" only applies to unmanaged units (set kind: unmanaged)` });
      } else {
        for (const k of NOT_UNMANAGED) {
          if (u[k] !== undefined) out.push({ path: at(k), message: `"${k}" does not apply to an unmanaged unit (the master does not start it)` });
        }
      }
      if (u.schedule && u.replicas !== undefined) out.push({ path: at("schedule"), message: "a scheduled unit cannot also be a pool (replicas)" });
      if (u.schedule && kind === "integrated") out.push({ path: at("schedule"), message: "integrated units start on demand; schedules apply to managed units" });
      return out;
    }),
  // Only a managed unit exits by design: an integrated or unmanaged one is never "completed".
  "completed-needs-managed": (spec) =>
    Object.entries(spec.units).flatMap(([id, u]) =>
      !u.depends_on || Array.isArray(u.depends_on)
        ? []
        : Object.entries(u.depends_on)
            .filter(([dep, condition]) => condition === "completed" && ["integrated", "unmanaged"].includes(spec.units[dep]?.kind ?? "managed"))
            .map(([dep]) => ({
              path: `units.${id}.depends_on.${dep}`,
              message: `"${dep}" is ${spec.units[dep]!.kind}, which never completes: depend on it as started${spec.units[dep]!.kind === "integrated" || spec.units[dep]!.health_check ? " or healthy" : ""}`,
            })),
    ),
};
