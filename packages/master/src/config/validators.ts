import type { RawDeployment, RawUnit } from "./schema.ts";
import { archiveFormatOf } from "../artifacts/archive.ts";

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
const NOT_UNMANAGED = ["source", "command", "args", "shell", "cwd", "env", "env_mode", "nice", "stdout", "stderr", "restart", "replicas", "schedule", "env_file", "config"] as const;

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
  // Secrets go to a unit the master starts, through its captured (redacted) output only.
  "secrets-delivery": (spec) =>
    Object.entries(spec.units).flatMap(([id, u]) => {
      if (!u.secrets) return [];
      const at = (k: string) => `units.${id}.${k}`;
      if ((u.kind ?? "managed") === "unmanaged") return [{ path: at("secrets"), message: "an unmanaged unit is not started by the master, so it cannot be given secrets" }];
      const out: RuleIssue[] = [];
      for (const stream of ["stdout", "stderr"] as const) {
        if (u[stream] === "inherit") out.push({ path: at(stream), message: `a unit with secrets cannot have ${stream}: inherit - its output would bypass redaction and reach the master's own log; use capture (the default)` });
      }
      const uses: [string, { env?: string; file?: string }][] = Array.isArray(u.secrets) ? u.secrets.map((name) => [name, {}]) : Object.entries(u.secrets);
      const files = new Map<string, string>();
      const vars = new Map<string, string>();
      for (const [name, how] of uses) {
        const where = Array.isArray(u.secrets) ? at("secrets") : at(`secrets.${name}`);
        if (how.env !== undefined && how.file !== undefined) out.push({ path: where, message: "give either env (a variable) or file (a file name), not both" });
        if (how.env !== undefined) {
          if (how.env.startsWith("HSU_")) out.push({ path: `${where}.env`, message: `${how.env}: HSU_ variables are the master's; pick another name` });
          else if (u.env?.[how.env] !== undefined) out.push({ path: `${where}.env`, message: `${how.env} is also set in units.${id}.env; drop one of them` });
          else if (vars.has(how.env)) out.push({ path: `${where}.env`, message: `${how.env} is already the variable of secret "${vars.get(how.env)}"` });
          vars.set(how.env, name);
          continue;
        }
        const file = how.file ?? name;
        if (files.has(file)) out.push({ path: where, message: `the file "${file}" is already that of secret "${files.get(file)}"` });
        files.set(file, name);
      }
      return out;
    }),
  // An artifact is installed only once it is verified: by a pinned sha256, a signature, or both.
  "source-verification": (spec) => {
    const trusted = (spec.master?.trusted_keys?.length ?? 0) > 0;
    return Object.entries(spec.units).flatMap(([id, u]) => {
      const s = u.source;
      if (u.upgrade !== undefined && !s) return [{ path: `units.${id}.upgrade`, message: "upgrade: applies to a unit installed from an artifact: give it a source: (see docs/artifacts.md), or drop upgrade:" }];
      if (u.upgrade?.when_idle && ((u.kind ?? "managed") !== "integrated" || u.idle_timeout === undefined)) {
        return [{ path: `units.${id}.upgrade.when_idle`, message: (u.kind ?? "managed") !== "integrated" ? "only an integrated unit comes to rest (when_idle waits for that)" : "the unit never comes to rest without idle_timeout: set idle_timeout, or drop when_idle" }];
      }
      if (!s) return [];
      const at = (k: string) => `units.${id}.source${k ? `.${k}` : ""}`;
      const out: RuleIssue[] = [];
      if (s.index !== undefined) {
        if (s.url !== undefined) return [{ path: at("index"), message: "give url (one artifact) or index (a list of versions), not both" }];
        for (const k of ["sha256", "signature", "version"] as const) {
          if (s[k] !== undefined) out.push({ path: at(k), message: `with an index, each version's ${k} comes from the index: drop source.${k}` });
        }
        // The index names the sha256s, so only a signature says who made an artifact.
        if (!trusted) out.push({ path: at("index"), message: "an index needs master.trusted_keys: each version it lists is checked by its minisign signature (the index itself is not signed)" });
        return out;
      }
      if (s.url === undefined) return [{ path: at(""), message: "name the artifact: url (one artifact) or index (a JSON list of versions)" }];
      if (!archiveFormatOf(s.url)) out.push({ path: at("url"), message: `${s.url}: the name must end in .tar.gz, .tgz, .tar or .zip (that is how the archive format is told)` });
      if (s.signature !== undefined && !trusted) {
        out.push({ path: at("signature"), message: "a signature needs a key to check it against: add the signer's public key to master.trusted_keys" });
      } else if (s.sha256 === undefined && !trusted) {
        out.push({
          path: at(""),
          message: "nothing would verify this artifact: pin its sha256 (sha256: <sha256sum of the file>), or sign it (minisign -S / hsu sign) and list the public key in master.trusted_keys",
        });
      }
      return out;
    });
  },
  // A gateway is a managed unit that calls integrated units of the same file.
  "gateway-routes": (spec) =>
    Object.entries(spec.units).flatMap(([id, u]) => {
      if (!u.gateway) return [];
      const at = (k: string) => `units.${id}.gateway${k ? `.${k}` : ""}`;
      const out: RuleIssue[] = [];
      if ((u.kind ?? "managed") !== "managed") out.push({ path: `units.${id}.kind`, message: `a gateway unit is managed (the master starts it and it calls units through the master); drop kind: ${u.kind}` });
      if (u.replicas !== undefined || u.schedule) out.push({ path: at(""), message: "a gateway cannot be a pool or a scheduled unit: it owns one listening address" });
      if (u.gateway.routes?.length === 0) out.push({ path: at("routes"), message: "a gateway needs at least one route" });
      const seen = new Set<string>();
      (u.gateway.routes ?? []).forEach((r, i) => {
        if (r.unit === undefined) return;
        const target = spec.units[r.unit];
        if (!target) out.push({ path: at(`routes[${i}].unit`), message: `no unit "${r.unit}" in this hsu.yaml${Object.keys(spec.units).length ? `; the integrated units: ${Object.entries(spec.units).filter(([, x]) => x.kind === "integrated").map(([n]) => n).join(", ") || "none"}` : ""}` });
        else if (target.kind !== "integrated") out.push({ path: at(`routes[${i}].unit`), message: `"${r.unit}" is ${target.kind ?? "managed"}: a gateway routes to integrated units only (they serve gRPC through the master)` });
        const key = `${r.unit} ${r.prefix ?? ""}`;
        if (seen.has(key)) out.push({ path: at(`routes[${i}]`), message: `unit "${r.unit}" is already routed under the prefix ${JSON.stringify(r.prefix ?? "")}` });
        seen.add(key);
      });
      if (u.gateway.tls?.client_auth && u.gateway.tls.client_auth !== "none" && !u.gateway.tls.client_ca_file) {
        out.push({ path: at("tls.client_auth"), message: `client_auth: ${u.gateway.tls.client_auth} needs client_ca_file (the CA that signs client certificates)` });
      }
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
