import { controlSocketPathProblem } from "../control/socket-path.ts";
import { checkPrivateDir } from "../daemon/state-dir.ts";
import {
  checkCronSchedule,
  checkDependencies,
  checkHealthCheckSpec,
  checkManagedUnitSpec,
  checkResourceLimits,
  checkUnmanagedSpec,
  parseAddress,
  type SpecIssue as FieldIssue,
} from "@hsu/client";
import { loadTlsFiles, TlsError, UNIX_PATH_MAX, type TlsFiles } from "@hsu/transport";
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { toHealthInput, toLimitsInput, toManagedInput, toUnmanagedInput } from "../daemon/unit-specs.ts";
import type { Deployment, UnitConfig } from "./defaults.ts";
import { checkUnitConfig } from "../daemon/unit-config.ts";
import { loadTrustedKeys } from "../artifacts/source.ts";
import { isOnSourceSync } from "../artifacts/store.ts";

/** A problem found by a runtime check, at a path of hsu.yaml. */
export interface PathIssue {
  path: string;
  message: string;
}

// Library field names that are not hsu.yaml's name in snake_case (with "Ms"/"Bytes" dropped).
const RENAMED: Record<string, string> = { executable: "command", healthCheck: "health_check", cpuCores: "cpu", backoffMultiplier: "backoff" };
// Below these keys come names the user chose (variables, headers, devices): kept as written.
const VERBATIM_BELOW = new Set(["env", "headers", "io_read_bps", "io_write_bps"]);

/** Maps a library field ("restart.maxDelayMs", "env.A=B", "args[2]") to its hsu.yaml path under `prefix`. */
export function yamlPath(prefix: string, field: string): string {
  const out: string[] = [];
  let verbatim = false;
  for (const seg of field.split(".")) {
    if (verbatim || !seg) {
      out.push(seg);
      continue;
    }
    const m = /^([^[]*)(\[\d+\])?$/.exec(seg)!;
    const name = RENAMED[m[1]!] ?? m[1]!.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase().replace(/_(ms|bytes)$/, "");
    out.push(name + (m[2] ?? ""));
    verbatim = VERBATIM_BELOW.has(name);
  }
  return [prefix, ...out].filter((s) => s !== "").join(".");
}

// A grpc check of an integrated unit may leave the address to the one the unit registers.
const REGISTERED_PLACEHOLDER = "unix:/registered-by-the-unit.sock";

/**
 * Runs, for every unit, the very checks the runtime runs when it builds the
 * unit - the library's spec checks, including the environment (executable on
 * the unit's PATH, cwd), health checks, limits, cron - so a file that
 * validates cannot fail later for one of these reasons.
 */
export function runtimeIssues(d: Deployment, environment = true): PathIssue[] {
  const issues: PathIssue[] = [];
  const add = (prefix: string, found: readonly FieldIssue[]) => {
    for (const i of found) issues.push({ path: yamlPath(prefix, i.field === "(spec)" ? "" : i.field), message: i.message });
  };
  for (const cfg of Object.values(d.units)) add(`units.${cfg.id}`, unitIssues(cfg, environment, d.master.stateDir));
  add("units", checkDependencies(Object.values(d.units).map((u) => ({ id: u.id, dependsOn: u.dependsOn, canBeHealthy: u.kind === "integrated" || !!u.healthCheck }))));
  issues.push(...oidcIssues(d).map((i) => ({ ...i, path: `master.${i.path}` })));
  if (environment) issues.push(...masterIssues(d));
  if (environment) for (const cfg of Object.values(d.units)) issues.push(...gatewayFileIssues(cfg));
  if (environment) for (const cfg of Object.values(d.units)) issues.push(...checkUnitConfig(cfg, d));
  return issues;
}

function unitIssues(cfg: UnitConfig, environment: boolean, stateDir: string): FieldIssue[] {
  const out: FieldIssue[] = [];
  // The unit specs look at the machine (executable, cwd); the checks below do not.
  if (!environment) {
    if (cfg.limits) out.push(...checkResourceLimits(toLimitsInput(cfg.limits), "limits").issues);
  } else if (cfg.kind === "unmanaged") {
    // The unmanaged spec checks its limits itself.
    const { healthCheck: _h, ...input } = toUnmanagedInput(cfg);
    out.push(...checkUnmanagedSpec(input, "").issues.filter((i) => i.field !== "id"));
  } else {
    // A source unit's program and cwd are in its tree: checked once the tree of this source is installed
    // (`hsu install`, or `hsu up` / `hsu apply`, which install first and check again), not against an older one.
    const notYet = cfg.source !== undefined && !isOnSourceSync(stateDir, cfg.id, cfg.source);
    const deferred = (i: FieldIssue) => notYet && (i.field === "executable" || i.field === "cwd") && !i.message.endsWith("is required");
    out.push(...checkManagedUnitSpec(toManagedInput(cfg)).issues.filter((i) => i.field !== "id" && !deferred(i)));
    if (cfg.limits) out.push(...checkResourceLimits(toLimitsInput(cfg.limits), "limits").issues);
  }
  if (cfg.healthCheck) {
    const input = toHealthInput(cfg.healthCheck, cfg.kind === "integrated" ? REGISTERED_PLACEHOLDER : undefined);
    out.push(...checkHealthCheckSpec(input, "healthCheck").issues);
  }
  if (cfg.schedule) out.push(...checkCronSchedule(cfg.schedule.cron, cfg.schedule.timezone, "schedule").issues);
  // The same cron library as schedules: a window that validates is one `hsu upgrade` can read.
  if (cfg.upgrade.window !== undefined) out.push(...checkCronSchedule(cfg.upgrade.window, undefined, "upgrade").issues.map((i) => ({ ...i, field: i.field.replace(/^upgrade\.cron$/, "upgrade.window") })));
  return out;
}

/** A gateway's descriptor sets and certificate files must exist (the gateway reads them when it starts). */
function gatewayFileIssues(cfg: UnitConfig): PathIssue[] {
  const g = cfg.gateway;
  if (!g) return [];
  const out: PathIssue[] = [];
  const file = (path: string, f: string, hint: string) => {
    try {
      if (!statSync(f).isFile()) out.push({ path, message: `${f} is not a file` });
    } catch (e) {
      out.push({ path, message: `cannot read ${f} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})${hint}` });
    }
  };
  g.routes.forEach((r, i) => {
    for (const f of r.descriptors) file(`units.${cfg.id}.gateway.routes[${i}].descriptors`, f, "; build it with `buf build <proto dir> -o " + f + "`");
  });
  if (g.tls) {
    file(`units.${cfg.id}.gateway.tls.cert_file`, g.tls.certFile, "");
    file(`units.${cfg.id}.gateway.tls.key_file`, g.tls.keyFile, "");
    if (g.tls.clientCaFile) file(`units.${cfg.id}.gateway.tls.client_ca_file`, g.tls.clientCaFile, "");
  }
  return out;
}

function masterIssues(d: Deployment): PathIssue[] {
  const m = d.master;
  const out: PathIssue[] = [];
  const add = (path: string, message: string) => out.push({ path: `master.${path}`, message });
  // The same rules the master applies before it uses these paths.
  try {
    checkPrivateDir(m.stateDir, "master.state_dir", false);
  } catch (e) {
    add("state_dir", (e as Error).message);
  }
  m.trustedKeys.forEach((ref, i) => {
    try {
      loadTrustedKeys([ref]);
    } catch (e) {
      out.push({ path: `master.trusted_keys[${i}]`, message: (e as Error).message.replace(/^master\.trusted_keys\[0\]: /, "") });
    }
  });
  const tooLong = socketPathTooLong(d);
  if (tooLong) add(tooLong.key, tooLong.message);
  else {
    try {
      parseAddress(`unix:${m.controlSocket}`);
      const problem = controlSocketPathProblem(m.controlSocket);
      if (problem) add("control.socket", problem);
    } catch (e) {
      add("control.socket", (e as Error).message.replace(/^address "unix:[^"]*": /, ""));
    }
  }
  if (m.controlTcp !== undefined) {
    try {
      const a = parseAddress(m.controlTcp);
      if (a.kind !== "tcp") add("control.tcp", `expected host:port, got "${m.controlTcp}"`);
    } catch (e) {
      add("control.tcp", (e as Error).message);
    }
    // No token_file is fine: TCP callers then bring an API token (`hsu token create`, always accepted) or an OIDC JWT.
  }
  if (m.tokenFile) {
    try {
      accessSync(m.tokenFile, constants.R_OK);
      if (!statSync(m.tokenFile).isFile()) add("control.token_file", `${m.tokenFile} is not a file`);
      else if (readFileSync(m.tokenFile, "utf8").trim() === "") add("control.token_file", `${m.tokenFile} is empty: put the token in it`);
    } catch (e) {
      add("control.token_file", `cannot read ${m.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (m.controlTls) {
    if (m.controlTcp === undefined) add("control.tls", "TLS applies to the TCP control port: set master.control.tcp too (the Unix socket is local and needs none)");
    const problem = tlsProblem(m.controlTls, "control.tls");
    if (problem) add(problem.key, problem.message);
  }
  return out;
}

/**
 * Why a `tls:` block cannot serve (its files are read and checked as the
 * listener will), as the key of the file at fault; undefined when it can.
 */
export function tlsProblem(files: TlsFiles, at: string): { key: string; message: string } | undefined {
  try {
    loadTlsFiles(files);
    return undefined;
  } catch (e) {
    if (!(e instanceof TlsError)) return { key: at, message: (e as Error).message };
    const key = e.file === files.keyFile ? "key_file" : e.file === files.clientCaFile ? "client_ca_file" : "cert_file";
    return { key: `${at}.${/needs client_ca_file/.test(e.message) ? "client_auth" : key}`, message: e.message };
  }
}

const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** `auth.oidc`: one provider per issuer, https unless on this machine (keys fetched in the clear could be swapped), an audience. */
function oidcIssues(d: Deployment): PathIssue[] {
  const out: PathIssue[] = [];
  const seen = new Map<string, number>();
  d.master.auth.oidc.forEach((p, i) => {
    const at = `auth.oidc[${i}]`;
    const first = seen.get(p.issuer);
    if (first !== undefined) out.push({ path: `${at}.issuer`, message: `issuer ${p.issuer} is already configured at auth.oidc[${first}]; a token's iss picks one provider` });
    else seen.set(p.issuer, i);
    for (const [key, url] of [["issuer", p.issuer], ["jwks_uri", p.jwksUri]] as const) {
      if (url === undefined) continue;
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        out.push({ path: `${at}.${key}`, message: `${JSON.stringify(url)} is not a URL` });
        continue;
      }
      if (parsed.protocol === "http:" && !LOOPBACK_HOST.test(parsed.hostname)) {
        out.push({ path: `${at}.${key}`, message: `${url}: plain http is only accepted on this machine (127.0.0.1, localhost); use https so the provider's keys cannot be swapped on the way` });
      }
    }
    if (p.audience.length === 0 || p.audience.some((a) => a === "")) out.push({ path: `${at}.audience`, message: "give the audience (aud) the tokens must carry: a non-empty string or list" });
  });
  return out;
}

/**
 * The control socket path past the kernel's limit for a Unix socket path,
 * said as a fix: the key that made it (`master.state_dir` when the socket is
 * the default `<state_dir>/control.sock`, else `master.control.socket`), the
 * computed path, its length against the limit, and a short value to set.
 */
function socketPathTooLong(d: Deployment): { key: "state_dir" | "control.socket"; message: string } | undefined {
  const { stateDir, controlSocket } = d.master;
  const bytes = Buffer.byteLength(controlSocket);
  const max = UNIX_PATH_MAX - 1;
  if (bytes <= max) return undefined;
  const name = basename(d.baseDir).replace(/[^A-Za-z0-9._-]/g, "").slice(0, 24) || "app";
  const head = `the control socket ${controlSocket} would be ${bytes} bytes; a Unix socket path may have at most ${max}`;
  if (controlSocket === join(stateDir, "control.sock")) {
    const where = stateDir === join(d.baseDir, ".hsu") ? "; master.state_dir is not set, so it is .hsu beside hsu.yaml" : "";
    return {
      key: "state_dir",
      message: `${head} (it is <state_dir>/control.sock${where}); set a shorter master.state_dir (master: {state_dir: /tmp/hsu-${name}}), or only the socket's: master.control.socket (master: {control: {socket: /tmp/hsu-${name}.sock}})`,
    };
  }
  return { key: "control.socket", message: `${head}; set a shorter master.control.socket (master: {control: {socket: /tmp/hsu-${name}.sock}})` };
}
