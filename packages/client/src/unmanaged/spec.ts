import { constants } from "node:os";
import { HsuError } from "../errors.ts";
import { validateResourceLimits, type ResourceLimits } from "../resources/index.ts";

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
  /** How long stop() waits before SIGKILL; 10000 ms by default. */
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
 * Checks an unmanaged unit spec from a config file, filling defaults; throws
 * HsuError("invalid_config") naming the unit and field.
 */
export function validateUnmanagedSpec(input: unknown, field = "unmanaged"): UnmanagedUnitSpec {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new HsuError("invalid_config", "an unmanaged unit must be an object with an id and one locator", { field });
  }
  const raw = input as Record<string, unknown>;
  if (typeof raw.id !== "string" || raw.id === "") {
    throw new HsuError("invalid_config", "must be a non-empty string", { field: `${field}.id` });
  }
  const unit = raw.id;
  const fail = (key: string, message: string): never => {
    throw new HsuError("invalid_config", message, { unit, field: `${field}.${key}` });
  };
  for (const key of Object.keys(raw)) if (!known.has(key)) fail(key, `unknown field; known fields: ${[...known].join(", ")}`);
  const given = locators.filter((l) => raw[l] !== undefined);
  if (given.length !== 1) {
    fail(given[1] ?? "pid", `give exactly one of ${locators.join(", ")} to find the process${given.length ? ` (got ${given.join(", ")})` : ""}`);
  }
  const int = (key: string, min: number, max: number): number | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) fail(key, `must be a whole number between ${min} and ${max}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const str = (key: string): string | undefined => {
    const v = raw[key];
    if (v !== undefined && (typeof v !== "string" || v === "")) fail(key, `must be a non-empty string, got ${JSON.stringify(v)}`);
    return v as string | undefined;
  };
  const spec: UnmanagedUnitSpec = {
    id: unit,
    canTerminate: false,
    stopSignal: "SIGTERM",
    gracefulTimeoutMs: int("gracefulTimeoutMs", 0, 3_600_000) ?? 10_000,
    pollIntervalMs: int("pollIntervalMs", 10, 3_600_000) ?? 1000,
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
      fail("commandLine", `is not a valid regular expression: ${(error as Error).message}`);
    }
  }
  if (raw.pick !== undefined && raw.pick !== "oldest" && raw.pick !== "newest") fail("pick", `must be "oldest" or "newest", got ${JSON.stringify(raw.pick)}`);
  set("pick", raw.pick as UnmanagedUnitSpec["pick"]);
  if (raw.canTerminate !== undefined && typeof raw.canTerminate !== "boolean") fail("canTerminate", "must be true or false");
  spec.canTerminate = raw.canTerminate === true;
  const signal = str("stopSignal");
  if (signal !== undefined && !(signal in constants.signals)) fail("stopSignal", `is not a signal name (e.g. SIGTERM, SIGINT), got "${signal}"`);
  if (signal !== undefined) spec.stopSignal = signal as NodeJS.Signals;
  if (raw.limits !== undefined) spec.limits = validateResourceLimits(raw.limits, { unit, field: `${field}.limits` });
  if (raw.healthCheck !== undefined) spec.healthCheck = raw.healthCheck;
  return spec;
}
