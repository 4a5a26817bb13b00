import { constants } from "node:os";
import { HsuError } from "../errors.ts";
import { checkResourceLimits, type ResourceLimits } from "../resources/index.ts";
import { specDefaults } from "../spec/defaults.ts";
import { IssueList, type Checked } from "../spec/issues.ts";

/**
 * A process HSU did not start but watches: found by exactly one locator
 * (pid, pidFile, processName, commandLine or port), never restarted.
 */
export interface UnmanagedUnitSpec {
  id: string;
  /** A known pid. */
  pid?: number;
  /** A file holding the pid (first number in it); followed when the service restarts. */
  pidFile?: string;
  /** Exact /proc/<pid>/comm (the kernel truncates it to 15 characters). */
  processName?: string;
  /** A regular expression (source) matched against the command line joined by spaces. */
  commandLine?: string;
  /** A TCP port the process listens on. */
  port?: number;
  /** Which process to take when the locator matches several; without it several matches are an error. */
  pick?: "oldest" | "newest";
  /** The expected start time (field 22 of /proc/<pid>/stat), e.g. recorded by an earlier master run: a mismatch means pid reuse. */
  expectStartTime?: number;
  /** Whether HSU may signal the process on stop(); false by default. */
  canTerminate: boolean;
  /** Signal stop() sends first; SIGTERM by default. */
  stopSignal: NodeJS.Signals;
  /** How long stop() waits before SIGKILL; specDefaults.gracefulTimeoutMs (30 s) by default. */
  gracefulTimeoutMs: number;
  /** Limits to watch (never enforced: HSU did not start the process). */
  limits?: ResourceLimits;
  /** Opaque health check configuration, wired by the caller. */
  healthCheck?: unknown;
  /** How often liveness and usage are checked; 1000 ms by default. */
  pollIntervalMs: number;
}

/** A spec as written in a config: the defaulted fields may be left out and limits are not validated yet. */
export type UnmanagedUnitInput = Omit<UnmanagedUnitSpec, "canTerminate" | "stopSignal" | "gracefulTimeoutMs" | "pollIntervalMs" | "limits"> &
  Partial<Pick<UnmanagedUnitSpec, "canTerminate" | "stopSignal" | "gracefulTimeoutMs" | "pollIntervalMs">> & { limits?: unknown };

/** Which locator a spec uses. */
export type Locator = "pid" | "pidFile" | "processName" | "commandLine" | "port";

const locators: readonly Locator[] = ["pid", "pidFile", "processName", "commandLine", "port"];
const known = new Set<string>([
  "id", ...locators, "pick", "expectStartTime", "canTerminate", "stopSignal", "gracefulTimeoutMs", "limits", "healthCheck", "pollIntervalMs",
]);

/** The locator a validated spec uses. */
export function locatorOf(spec: UnmanagedUnitSpec): Locator {
  return locators.find((l) => spec[l] !== undefined)!;
}

/**
 * Checks an unmanaged unit spec, filling defaults and collecting every
 * problem with its field (`<field>.<key>`).
 */
export function checkUnmanagedSpec(input: unknown, field = "unmanaged"): Checked<UnmanagedUnitSpec> {
  const issues = new IssueList(field);
  const fail = (): Checked<UnmanagedUnitSpec> => ({ value: undefined, issues: issues.issues });
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    issues.add("", "an unmanaged unit must be an object with an id and one locator");
    return fail();
  }
  const raw = input as Record<string, unknown>;
  if (typeof raw.id !== "string" || raw.id === "") {
    issues.add("id", "must be a non-empty string");
    return fail();
  }
  const unit = raw.id;
  for (const key of Object.keys(raw)) if (!known.has(key)) issues.add(key, `unknown field; known fields: ${[...known].join(", ")}`);
  const given = locators.filter((l) => raw[l] !== undefined);
  if (given.length !== 1) {
    issues.add(given[1] ?? "pid", `give exactly one of ${locators.join(", ")} to find the process${given.length ? ` (got ${given.join(", ")})` : ""}`);
  }
  const int = (key: string, min: number, max: number): number | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) return issues.add(key, `must be a whole number between ${min} and ${max}, got ${JSON.stringify(v)}`);
    return v;
  };
  const str = (key: string): string | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v === "") return issues.add(key, `must be a non-empty string, got ${JSON.stringify(v)}`);
    if (v.includes("\0")) return issues.add(key, "contains a NUL byte");
    return v;
  };
  const spec: UnmanagedUnitSpec = {
    id: unit,
    canTerminate: false,
    stopSignal: specDefaults.stopSignal,
    gracefulTimeoutMs: int("gracefulTimeoutMs", 0, 3_600_000) ?? specDefaults.gracefulTimeoutMs,
    pollIntervalMs: int("pollIntervalMs", 10, 3_600_000) ?? specDefaults.unmanagedPollIntervalMs,
  };
  const set = <K extends keyof UnmanagedUnitSpec>(key: K, value: UnmanagedUnitSpec[K] | undefined) => {
    if (value !== undefined) spec[key] = value;
  };
  set("pid", int("pid", 1, 4194304));
  set("pidFile", str("pidFile"));
  set("processName", str("processName"));
  set("commandLine", str("commandLine"));
  set("port", int("port", 1, 65535));
  set("expectStartTime", int("expectStartTime", 0, Number.MAX_SAFE_INTEGER));
  if (spec.commandLine !== undefined) {
    try {
      new RegExp(spec.commandLine);
    } catch (error) {
      issues.add("commandLine", `is not a valid regular expression: ${(error as Error).message}`);
    }
  }
  if (raw.pick !== undefined && raw.pick !== "oldest" && raw.pick !== "newest") issues.add("pick", `must be "oldest" or "newest", got ${JSON.stringify(raw.pick)}`);
  else set("pick", raw.pick as UnmanagedUnitSpec["pick"]);
  if (raw.canTerminate !== undefined && typeof raw.canTerminate !== "boolean") issues.add("canTerminate", "must be true or false");
  spec.canTerminate = raw.canTerminate === true;
  const signal = str("stopSignal");
  if (signal !== undefined && !(signal in constants.signals)) issues.add("stopSignal", `is not a signal name (e.g. SIGTERM, SIGINT), got "${signal}"`);
  else if (signal !== undefined) spec.stopSignal = signal as NodeJS.Signals;
  if (raw.limits !== undefined) {
    const limits = checkResourceLimits(raw.limits, `${field}.limits`);
    issues.addAll(limits.issues);
    if (limits.value) spec.limits = limits.value;
  }
  if (raw.healthCheck !== undefined) spec.healthCheck = raw.healthCheck;
  if (!issues.ok) return fail();
  return { value: spec, issues: [] };
}

/**
 * Checks an unmanaged unit spec from a config file, filling defaults; throws
 * HsuError("invalid_config") naming the unit and the field of the first
 * problem (`issues` lists all of them).
 */
export function validateUnmanagedSpec(input: unknown, field = "unmanaged"): UnmanagedUnitSpec {
  const { value, issues } = checkUnmanagedSpec(input, field);
  if (value) return value;
  const id = typeof (input as { id?: unknown } | null)?.id === "string" ? (input as { id: string }).id : undefined;
  const where = id ? { unit: id, field: issues[0]!.field } : { field: issues[0]!.field };
  throw Object.assign(new HsuError("invalid_config", issues[0]!.message, where), { issues });
}
