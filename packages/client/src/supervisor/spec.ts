import { statSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { HsuError } from "../errors.ts";
import { specDefaults, unitIdPattern } from "../spec/defaults.ts";
import { checkEnv } from "../spec/env.ts";
import { IssueList, type Checked, type SpecIssue } from "../spec/issues.ts";
import { resolveExecutable } from "./executable.ts";

/** Restart policies: when a unit whose process ended is started again. */
export type RestartPolicyName = "never" | "on-failure" | "always" | "unless-stopped";

/** What happens to a child's stdout or stderr. */
export type OutputMode = "capture" | "inherit" | "ignore";

/** How a unit restarts after its process ends. */
export interface RestartSpec {
  /**
   * - `never`: never restarted by the supervisor.
   * - `on-failure`: restarted after a non-zero exit, a signal, or a failure kill (unhealthy, limit).
   * - `always`: restarted after any exit, including code 0; not after an explicit stop.
   * - `unless-stopped`: like `always` while the master runs; across a master restart it is the one
   *   policy that remembers an explicit stop (see `shouldStartOnBoot` in restart.ts).
   */
  policy: RestartPolicyName;
  /** Consecutive restarts allowed before the unit is `failed`; unlimited when omitted. */
  maxRetries?: number;
  /** Delay before the first restart (ms). */
  delayMs: number;
  /** Each consecutive restart waits `delayMs * backoffMultiplier^n`, capped at `maxDelayMs`. */
  backoffMultiplier: number;
  /** Upper bound of the restart delay (ms). */
  maxDelayMs: number;
  /**
   * A run that lasted at least this long (ms) counts as stable: the consecutive retry counter
   * (backoff exponent and `maxRetries`) starts again from zero when it ends.
   */
  resetAfterMs: number;
  /** Circuit breaker: more than `maxRestarts` restarts within `windowMs` -> `failed`. */
  breaker: { windowMs: number; maxRestarts: number };
}

/** The validated, frozen description of one managed unit. */
export interface ManagedUnitSpec {
  /** `[a-z0-9][a-z0-9._-]*`, at most 63 characters. */
  readonly id: string;
  readonly description: string;
  /** A program path or a name looked up in PATH; with `shell: true`, a /bin/sh command line. */
  readonly executable: string;
  /** Arguments; with `shell: true` they become the script's `$1`, `$2`, ... */
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /**
   * `merge` (default): `env` is laid over the master's own environment.
   * `replace`: the child gets exactly `env` and nothing else (PATH included: without a PATH in
   * `env`, only the executable lookup falls back to the master's PATH).
   */
  readonly envMode: "merge" | "replace";
  /** Working directory; the master's when omitted. */
  readonly cwd?: string;
  /** Start as soon as the unit is added to the supervisor. */
  readonly autoStart: boolean;
  /** Time between the stop signal and SIGKILL to the whole process group. */
  readonly gracefulTimeoutMs: number;
  readonly stopSignal: NodeJS.Signals;
  /** Nice value (-20..19) applied right after spawn. */
  readonly nice?: number;
  /** Run `executable` through `/bin/sh -c` instead of exec'ing it directly. */
  readonly shell: boolean;
  readonly restart: Readonly<RestartSpec>;
  readonly stdout: OutputMode;
  readonly stderr: OutputMode;
  /** Opaque to the supervisor; handed to the limit planner and monitor. */
  readonly limits?: unknown;
  /** Opaque to the supervisor; the health monitor factory closes over it. */
  readonly healthCheck?: unknown;
  /** Opaque to the supervisor; handed to the credential provider at every start (which secrets, and how). */
  readonly credentials?: unknown;
}

/** One problem found in a unit spec. */
export type { SpecIssue };

/** The HsuError thrown by `validateManagedUnitSpec`; `issues` lists every problem. */
export type InvalidSpecError = HsuError & { issues: SpecIssue[] };

/** Default restart settings, applied field by field. */
export const defaultRestart: Readonly<RestartSpec> = specDefaults.restart;

/** The longest timer Node can set (about 24.8 days); a longer delay would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const policies: readonly string[] = ["never", "on-failure", "always", "unless-stopped"];
const outputModes: readonly string[] = ["capture", "inherit", "ignore"];
const known = new Set([
  "id", "description", "executable", "args", "env", "envMode", "cwd", "autoStart", "gracefulTimeoutMs",
  "stopSignal", "nice", "shell", "restart", "stdout", "stderr", "limits", "healthCheck", "credentials",
]);

/** Whether `id` is a valid unit id. */
export function isValidUnitId(id: string): boolean {
  return unitIdPattern.test(id);
}

/**
 * Checks a unit spec (e.g. parsed from config) the way the runtime will use
 * it - including the environment: the cwd exists and the executable resolves
 * with the unit's PATH and cwd - and applies defaults. Every problem is
 * collected in one pass, each with its field.
 */
export function checkManagedUnitSpec(input: unknown): Checked<ManagedUnitSpec> {
  const list = new IssueList();
  const issues = list.issues;
  const bad = (field: string, message: string): void => void list.add(field, message);
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return { value: undefined, issues: [{ field: "(spec)", message: "must be an object" }] };
  }
  const o = input as Record<string, unknown>;
  const id = typeof o.id === "string" ? o.id : undefined;
  if (id === undefined) bad("id", "is required (a string)");
  else if (!isValidUnitId(id)) bad("id", `"${id}" must match [a-z0-9][a-z0-9._-]* and be at most 63 characters`);
  const nul = (field: string, v: unknown) => typeof v === "string" && v.includes("\0") && bad(field, "contains a NUL byte");
  for (const key of Object.keys(o)) if (!known.has(key)) bad(key, "is not a known field");

  const r = new Reader(o, bad);
  const description = r.string("description") ?? "";
  const args = r.stringArray("args") ?? [];
  const env = r.stringRecord("env") ?? {};
  checkEnv(env, list);
  nul("executable", o.executable);
  nul("cwd", o.cwd);
  args.forEach((a, i) => nul(`args[${i}]`, a));
  const envMode = r.oneOf("envMode", ["merge", "replace"]) ?? "merge";
  const cwd = r.string("cwd");
  if (cwd !== undefined) {
    const problem = directoryProblem(cwd);
    if (problem) bad("cwd", problem);
  }
  const shell = r.boolean("shell") ?? false;
  const executable = r.string("executable");
  if (executable === undefined) {
    if (o.executable === undefined) bad("executable", "is required");
  } else if (!shell) {
    const cwdOk = !issues.some((i) => i.field === "cwd");
    const pathEnv = envMode === "replace" && env.PATH === undefined ? process.env.PATH : (env.PATH ?? process.env.PATH);
    const found = resolveExecutable(executable, { cwd: cwdOk && cwd ? cwd : process.cwd(), pathEnv });
    if ("error" in found) bad("executable", found.error);
  } else if (executable.trim() === "") bad("executable", "is an empty shell command");
  const autoStart = r.boolean("autoStart") ?? true;
  const gracefulTimeoutMs = r.number("gracefulTimeoutMs", { min: 0, max: MAX_TIMER_MS }) ?? specDefaults.gracefulTimeoutMs;
  const stopSignal = r.string("stopSignal") ?? specDefaults.stopSignal;
  if (!(stopSignal in osConstants.signals)) bad("stopSignal", `"${stopSignal}" is not a signal name (e.g. SIGTERM, SIGINT)`);
  const nice = r.number("nice", { min: -20, max: 19, integer: true });
  const stdout = r.oneOf("stdout", outputModes) ?? specDefaults.output;
  const stderr = r.oneOf("stderr", outputModes) ?? specDefaults.output;
  const restart = readRestart(o.restart, bad);
  if (o.limits !== undefined) checkNoNegatives(o.limits, "limits", bad);

  if (issues.length > 0) return { value: undefined, issues };
  const spec: ManagedUnitSpec = {
    id: id!,
    description,
    executable: executable!,
    args: Object.freeze([...args]),
    env: Object.freeze({ ...env }),
    envMode: envMode as "merge" | "replace",
    ...(cwd === undefined ? {} : { cwd }),
    autoStart,
    gracefulTimeoutMs,
    stopSignal: stopSignal as NodeJS.Signals,
    ...(nice === undefined ? {} : { nice }),
    shell,
    restart,
    stdout: stdout as OutputMode,
    stderr: stderr as OutputMode,
    ...(o.limits === undefined ? {} : { limits: o.limits }),
    ...(o.healthCheck === undefined ? {} : { healthCheck: o.healthCheck }),
    ...(o.credentials === undefined ? {} : { credentials: o.credentials }),
  };
  return { value: Object.freeze(spec), issues: [] };
}

/**
 * Checks a unit spec (see {@link checkManagedUnitSpec}), applies defaults and returns it
 * frozen. Every problem is thrown as one `invalid_config` HsuError whose message lists
 * them and whose `issues` holds them.
 */
export function validateManagedUnitSpec(input: unknown): ManagedUnitSpec {
  const { value, issues } = checkManagedUnitSpec(input);
  if (value) return value;
  const id = typeof (input as { id?: unknown } | null)?.id === "string" ? (input as { id: string }).id : undefined;
  throw invalid(id, [...issues]);
}

function directoryProblem(path: string): string | undefined {
  try {
    return statSync(path).isDirectory() ? undefined : `"${path}" is not a directory`;
  } catch (err) {
    return `"${path}" does not exist (${(err as NodeJS.ErrnoException).code ?? String(err)}): create it or fix the path`;
  }
}

function readRestart(value: unknown, bad: (f: string, m: string) => void): Readonly<RestartSpec> {
  if (value === undefined) return defaultRestart;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    bad("restart", "must be an object");
    return defaultRestart;
  }
  const r = new Reader(value as Record<string, unknown>, bad, "restart.");
  const policy = r.oneOf("policy", policies) ?? defaultRestart.policy;
  const maxRetries = r.number("maxRetries", { min: 0, integer: true });
  const delayMs = r.number("delayMs", { min: 0, max: MAX_TIMER_MS }) ?? defaultRestart.delayMs;
  const backoffMultiplier = r.number("backoffMultiplier", { min: 1, max: 1000 }) ?? defaultRestart.backoffMultiplier;
  const givenMax = r.number("maxDelayMs", { min: 0, max: MAX_TIMER_MS });
  const maxDelayMs = givenMax ?? defaultRestart.maxDelayMs;
  if (maxDelayMs < delayMs) {
    bad("restart.delayMs", `${delayMs} ms is above the longest restart delay, ${maxDelayMs} ms${givenMax === undefined ? " (the default)" : ""}: lower the delay or raise the maximum delay`);
  }
  const resetAfterMs = r.number("resetAfterMs", { min: 0, max: MAX_TIMER_MS }) ?? defaultRestart.resetAfterMs;
  const rawBreaker = (value as Record<string, unknown>).breaker;
  let breaker = defaultRestart.breaker;
  if (rawBreaker !== undefined) {
    if (typeof rawBreaker !== "object" || rawBreaker === null) bad("restart.breaker", "must be an object");
    else {
      const b = new Reader(rawBreaker as Record<string, unknown>, bad, "restart.breaker.");
      breaker = Object.freeze({
        windowMs: b.number("windowMs", { min: 1, max: MAX_TIMER_MS }) ?? defaultRestart.breaker.windowMs,
        maxRestarts: b.number("maxRestarts", { min: 0, integer: true }) ?? defaultRestart.breaker.maxRestarts,
      });
    }
  }
  return Object.freeze({
    policy: policy as RestartPolicyName,
    ...(maxRetries === undefined ? {} : { maxRetries }),
    delayMs,
    backoffMultiplier,
    maxDelayMs,
    resetAfterMs,
    breaker,
  });
}

// Limits are opaque here, but a negative size, count or duration is never meaningful.
function checkNoNegatives(value: unknown, path: string, bad: (f: string, m: string) => void): void {
  if (typeof value === "number" && value < 0) bad(path, `must not be negative (got ${value})`);
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) checkNoNegatives(v, `${path}.${k}`, bad);
  }
}

function invalid(unit: string | undefined, issues: SpecIssue[]): InvalidSpecError {
  const list = issues.map((i) => `${i.field}: ${i.message}`).join("; ");
  const where = unit === undefined ? {} : { unit };
  const err = new HsuError(
    "invalid_config",
    `invalid unit spec (${issues.length} problem${issues.length === 1 ? "" : "s"}): ${list}`,
    issues.length === 1 ? { ...where, field: issues[0]!.field } : where,
  );
  return Object.assign(err, { issues });
}

/** Typed field readers that record a problem instead of throwing. */
class Reader {
  private readonly o: Record<string, unknown>;
  private readonly bad: (field: string, message: string) => void;
  private readonly prefix: string;

  constructor(o: Record<string, unknown>, bad: (field: string, message: string) => void, prefix = "") {
    this.o = o;
    this.bad = bad;
    this.prefix = prefix;
  }

  string(key: string): string | undefined {
    const v = this.o[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string") return void this.bad(this.prefix + key, `must be a string (got ${typeof v})`);
    return v;
  }

  boolean(key: string): boolean | undefined {
    const v = this.o[key];
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") return void this.bad(this.prefix + key, `must be true or false (got ${JSON.stringify(v)})`);
    return v;
  }

  number(key: string, range: { min?: number; max?: number; integer?: boolean }): number | undefined {
    const v = this.o[key];
    const field = this.prefix + key;
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v)) return void this.bad(field, `must be a number (got ${JSON.stringify(v)})`);
    if (range.min === 0 && v < 0) return void this.bad(field, `must not be negative (got ${v})`);
    if (range.min !== undefined && v < range.min) return void this.bad(field, `must be at least ${range.min} (got ${v})`);
    if (range.max !== undefined && v > range.max) return void this.bad(field, `must be at most ${range.max} (got ${v})`);
    if (range.integer && !Number.isInteger(v)) return void this.bad(field, `must be a whole number (got ${v})`);
    return v;
  }

  oneOf(key: string, allowed: readonly string[]): string | undefined {
    const v = this.string(key);
    if (v !== undefined && !allowed.includes(v)) {
      this.bad(this.prefix + key, `"${v}" is not one of ${allowed.map((a) => `"${a}"`).join(", ")}`);
      return undefined;
    }
    return v;
  }

  stringArray(key: string): string[] | undefined {
    const v = this.o[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) return void this.bad(this.prefix + key, "must be a list of strings");
    return v as string[];
  }

  stringRecord(key: string): Record<string, string> | undefined {
    const v = this.o[key];
    if (v === undefined) return undefined;
    if (typeof v !== "object" || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string")) {
      return void this.bad(this.prefix + key, "must map names to string values");
    }
    return v as Record<string, string>;
  }
}
