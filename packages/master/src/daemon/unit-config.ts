import { HsuError } from "@hsu/client";
import { createHash } from "node:crypto";
import { lstatSync, closeSync, constants, fstatSync, mkdirSync, openSync, readdirSync, readSync, realpathSync, renameSync, rmSync, chmodSync, writeFileSync } from "node:fs";
import { dirname, join, relative, isAbsolute } from "node:path";
import type { Deployment, UnitConfig } from "../config/index.ts";
import { parseEnvFile } from "../config/env-file.ts";
import { MAX_TEMPLATE_BYTES, parseTemplate, renderTemplate, usesSecret, type TemplatePart, type TemplateValues } from "../config/template.ts";
import { onTmpfs } from "../secrets/credentials.ts";

/** Where secrets come from; the secrets store implements it. */
export interface SecretSource {
  get(name: string): Promise<string>;
}

/** The largest env file read. */
export const MAX_ENV_FILE_BYTES = 1024 * 1024;

/** A problem with a unit's env_file or config, at its hsu.yaml path. */
export interface UnitConfigIssue {
  path: string;
  message: string;
}

/** A bounded read of a regular file as UTF-8 text; a FIFO or device is refused without blocking. */
function readText(path: string, max: number): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    if (st.size > max) throw new Error(`${path} is ${st.size} bytes; at most ${max} are read`);
    const buf = Buffer.alloc(st.size + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > max) throw new Error(`${path} grew past ${max} bytes`);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(0, n));
    } catch {
      throw new Error(`${path} is not UTF-8 text`);
    }
  } finally {
    closeSync(fd);
  }
}

/** The variables of a unit's env files, later files over earlier ones; every bad line is an issue with file:line. */
export function readEnvFiles(cfg: UnitConfig): { env: Record<string, string>; issues: UnitConfigIssue[] } {
  const env: Record<string, string> = {};
  const issues: UnitConfigIssue[] = [];
  const path = `units.${cfg.id}.env_file`;
  for (const f of cfg.envFiles) {
    let text: string;
    try {
      text = readText(f.path, MAX_ENV_FILE_BYTES);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        if (!f.required) continue;
        issues.push({ path, message: `${f.path} does not exist (create it, or write { path: ..., required: false } to allow that)` });
      } else issues.push({ path, message: `cannot read ${f.path}: ${(e as Error).message}` });
      continue;
    }
    const parsed = parseEnvFile(text);
    for (const i of parsed.issues) issues.push({ path, message: `${f.path}:${i.line}: ${i.message}` });
    for (const e of parsed.entries) env[e.key] = e.value;
  }
  return { env, issues };
}

/** A config entry's template, parsed, with where its lines are counted from. */
interface LoadedTemplate {
  name: string;
  where: string;
  parts: TemplatePart[];
}

/** Reads and parses every `config:` template of a unit; a template file must lie inside the project dir. */
export function loadTemplates(cfg: UnitConfig, baseDir: string): { templates: LoadedTemplate[]; issues: UnitConfigIssue[] } {
  const templates: LoadedTemplate[] = [];
  const issues: UnitConfigIssue[] = [];
  for (const c of cfg.configFiles) {
    const path = `units.${cfg.id}.config.${c.name}`;
    if ((c.content === undefined) === (c.template === undefined)) {
      issues.push({ path, message: "give exactly one of `content:` (inline) or `template:` (a file)" });
      continue;
    }
    let source: string;
    let where: string;
    if (c.content !== undefined) {
      source = c.content;
      where = `${path}.content`;
      if (Buffer.byteLength(source) > MAX_TEMPLATE_BYTES) {
        issues.push({ path: `${path}.content`, message: `is larger than ${MAX_TEMPLATE_BYTES} bytes` });
        continue;
      }
    } else {
      where = c.template!;
      try {
        const real = realpathSync(c.template!);
        const rel = relative(realpathSync(baseDir), real);
        if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
          issues.push({ path: `${path}.template`, message: `${c.template} is outside the project directory ${baseDir} (after symlinks): a template must lie inside it` });
          continue;
        }
        source = readText(real, MAX_TEMPLATE_BYTES);
      } catch (e) {
        issues.push({ path: `${path}.template`, message: `cannot read ${c.template}: ${(e as Error).message}` });
        continue;
      }
    }
    if (source.includes("\0")) {
      issues.push({ path, message: `${where}:${source.slice(0, source.indexOf("\0")).split("\n").length}: contains a NUL byte: a template must be text` });
      continue;
    }
    const parsed = parseTemplate(source);
    for (const i of parsed.issues) issues.push({ path, message: `${where}:${i.line}: ${i.message}` });
    if (!parsed.issues.length) templates.push({ name: c.name, where, parts: parsed.parts });
  }
  return { templates, issues };
}

/** What the master knows about units, for `{{ units.ID.FIELD }}`. */
export type UnitLookup = (id: string, field: string) => { value: string } | { error: string };

/**
 * The unit fields known without running anything: id, kind, and the address
 * of an integrated unit on a Unix socket (the master picks it); a TCP unit's
 * address and port are known once it registered (`registered`).
 */
export function unitLookup(d: Deployment, runDir: string, registered: (id: string) => string | undefined = () => undefined): UnitLookup {
  return (id, field) => {
    const u = d.units[id];
    if (!u) return { error: `no unit "${id}" in hsu.yaml` };
    if (field === "id") return { value: id };
    if (field === "kind") return { value: u.kind };
    if (u.kind !== "integrated") return { error: `"${id}" is ${u.kind}: only an integrated unit has an address the master knows` };
    if (u.replicas !== undefined) return { error: `"${id}" is a pool of ${u.replicas}: it has no single address` };
    if (u.listen === "unix") {
      return field === "address" ? { value: `unix:${join(runDir, `${id}.sock`)}` } : { error: `"${id}" listens on a Unix socket: it has no port (use address)` };
    }
    const addr = registered(id);
    if (!addr) return { error: `"${id}" listens on a TCP port it picks at start and has not registered yet: add it to depends_on so it starts first` };
    if (field === "address") return { value: addr };
    const port = /:(\d+)$/.exec(addr)?.[1];
    return port ? { value: port } : { error: `"${id}" registered ${addr}, which has no port` };
  };
}

/** A unit's env files and rendered config, and a digest of both for `hsu apply`. */
export interface PreparedConfig {
  env: Record<string, string>;
  files: { name: string; text: string; secret: boolean }[];
  /** Some template reads a secret: the directory goes on tmpfs. */
  secret: boolean;
  envKey: string;
  filesKey: string;
}

const digest = (v: unknown) => createHash("sha256").update(JSON.stringify(v)).digest("hex");

/** Everything a unit's start needs from its env files and templates, or one error listing every problem. */
export async function prepareUnitConfig(
  cfg: UnitConfig,
  d: Deployment,
  o: { env: NodeJS.ProcessEnv; units: UnitLookup; secrets: SecretSource; render?: boolean },
): Promise<PreparedConfig> {
  const envs = readEnvFiles(cfg);
  const loaded = loadTemplates(cfg, d.baseDir);
  const issues = [...envs.issues, ...loaded.issues];
  const files: PreparedConfig["files"] = [];
  if (o.render !== false && !issues.length) {
    const values: TemplateValues = {
      vars: (n) => (Object.hasOwn(cfg.vars, n) ? cfg.vars[n] : undefined),
      env: (n) => (Object.hasOwn(o.env, n) ? o.env[n] : undefined),
      unit: o.units,
      secret: (n) => o.secrets.get(n),
    };
    for (const t of loaded.templates) {
      const r = await renderTemplate(t.parts, values);
      for (const i of r.issues) issues.push({ path: `units.${cfg.id}.config.${t.name}`, message: `${t.where}:${i.line}: ${i.message}` });
      files.push({ name: t.name, text: r.text, secret: usesSecret(t.parts) });
    }
  }
  if (issues.length) throw configError(cfg.id, issues);
  return { env: envs.env, files, secret: loaded.templates.some((t) => usesSecret(t.parts)), envKey: digest(envs.env), filesKey: digest(files.map((f) => [f.name, f.text])) };
}

/** One error for a unit's config problems: each on its own line with its hsu.yaml path. */
export function configError(unit: string, issues: readonly UnitConfigIssue[]): HsuError {
  return new HsuError("invalid_config", `${issues.length} config problem${issues.length === 1 ? "" : "s"}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}`, { unit });
}

/**
 * The unit's config directory ($HSU_CONFIG_DIR): `<state_dir>/config/<unit>`,
 * or, when a file holds a secret, `/dev/shm/hsu-<owner>/<unit>` (tmpfs: never
 * persistent disk) - refused when the host has no tmpfs there. The directory
 * is 0700, each file 0600, written whole (temp file, then rename); files no
 * longer configured are removed.
 */
export function configDir(stateDir: string, owner: string, unit: string, secret: boolean): string {
  if (!secret) return join(stateDir, "config", unit);
  if (!onTmpfs("/dev/shm")) {
    throw new HsuError("failed_precondition", "a config template reads a secret, and this host has no tmpfs at /dev/shm: the rendered file would land on persistent disk, so it is not written", { unit });
  }
  return join("/dev/shm", `hsu-${owner}`, unit);
}

/** The variable that tells a unit where its rendered config files are. */
export const CONFIG_DIR_ENV = "HSU_CONFIG_DIR";

/** Whether a config dir is one of the tmpfs ones {@link configDir} picks for files that hold secrets. */
export function isSecretConfigDir(dir: string): boolean {
  return dir.startsWith("/dev/shm/hsu-");
}

/**
 * Removes the tmpfs config dirs (rendered files that hold secrets) of every
 * unit but `keep`, and their shared parent once empty; returns the units
 * whose dir went. A parent that is not this user's own directory is left alone.
 */
export function reapSecretConfigDirs(owner: string, keep: Iterable<string> = []): string[] {
  const base = join("/dev/shm", `hsu-${owner}`);
  let names: string[];
  try {
    const st = lstatSync(base);
    if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid())) return [];
    names = readdirSync(base);
  } catch {
    return [];
  }
  const kept = new Set(keep);
  const removed = names.filter((n) => !kept.has(n));
  for (const n of removed) rmSync(join(base, n), { recursive: true, force: true });
  if (removed.length === names.length) rmSync(base, { recursive: true, force: true });
  return removed;
}

/** Writes a unit's rendered files into `dir` (see {@link configDir}). */
export function writeConfigFiles(dir: string, files: PreparedConfig["files"]): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // /dev/shm is shared: a directory someone else made (or a symlink) there is never written into.
  for (const d of [dirname(dir), dir]) {
    const st = lstatSync(d);
    if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid())) {
      throw new HsuError("failed_precondition", `${d} is not a directory of this user (a symlink, or made by someone else): remove it, then start again`, {});
    }
  }
  chmodSync(dir, 0o700);
  const keep = new Set(files.map((f) => f.name));
  for (const name of readdirSync(dir)) if (!keep.has(name)) rmSync(join(dir, name), { force: true, recursive: true });
  for (const f of files) {
    const tmp = join(dir, `.${f.name}.tmp`);
    writeFileSync(tmp, f.text, { mode: 0o600 });
    renameSync(tmp, join(dir, f.name));
  }
}

/**
 * The checks `hsu validate` runs on a unit's env files and templates: every
 * bad env line, unreadable or escaping template, syntax error and unknown
 * `vars.`/`env.`/`units.` name, each with path:line. Secrets are looked up at
 * start only; a TCP unit's address is taken as known (it registers first).
 */
export function checkUnitConfig(cfg: UnitConfig, d: Deployment, env: NodeJS.ProcessEnv = process.env): UnitConfigIssue[] {
  const issues = [...readEnvFiles(cfg).issues];
  const loaded = loadTemplates(cfg, d.baseDir);
  issues.push(...loaded.issues);
  const units = unitLookup(d, "/run", () => "127.0.0.1:1");
  for (const t of loaded.templates) {
    const at = (line: number, message: string) => issues.push({ path: `units.${cfg.id}.config.${t.name}`, message: `${t.where}:${line}: ${message}` });
    for (const p of t.parts) {
      if (p.kind !== "ref") continue;
      const name = p.path[0]!;
      if (p.scope === "vars" && !Object.hasOwn(cfg.vars, name)) at(p.line, `{{ vars.${name} }}: unknown variable "${name}"; define it under \`vars:\` (top level or the unit's)`);
      if (p.scope === "env" && !Object.hasOwn(env, name)) at(p.line, `{{ env.${name} }}: unknown environment variable "${name}"; set it in the environment the master starts in (\`hsu up\`)`);
      if (p.scope === "units") {
        const r = units(name, p.path[1]!);
        if ("error" in r) at(p.line, `{{ units.${p.path.join(".")} }}: ${r.error}`);
      }
    }
  }
  return issues;
}
