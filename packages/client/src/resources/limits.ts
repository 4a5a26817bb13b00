import { HsuError, type HsuErrorWhere } from "../errors.ts";
import { specDefaults } from "../spec/defaults.ts";
import { IssueList, type Checked } from "../spec/issues.ts";
import type { LimitPolicy } from "../supervisor/ports.ts";

// What the supervisor does when a monitored limit is exceeded: one type, defined with the supervisor's ports.
export type { LimitPolicy };

/** Bytes per second for every block device (a number) or per device ("major:minor" -> bytes per second). */
export type IoBandwidth = number | Readonly<Record<string, number>>;

/**
 * Resource limits of one unit. Kernel-enforced where the host allows
 * (cgroups, rlimits), watched by a LimitMonitor otherwise; see
 * describeHostCapabilities() for what this host can do.
 */
export interface ResourceLimits {
  /** CPU time in cores (0.5 = half of one core), enforced as a cgroup CPU quota. */
  cpuCores?: number;
  /** Relative CPU weight, 1-10000 (100 = default). `cpuShares` (2-262144) in the input is converted to this. */
  cpuWeight?: number;
  /** Memory limit of the whole unit in bytes (at least 1 MiB). */
  memoryBytes?: number;
  /** Swap the unit may use on top of memoryBytes. */
  memorySwapBytes?: number;
  /** Processes (cgroup: tasks) the unit may have. */
  maxProcesses?: number;
  /** Open files per process (RLIMIT_NOFILE). */
  maxOpenFiles?: number;
  /** Virtual address space per process (RLIMIT_AS). */
  maxAddressSpaceBytes?: number;
  /** Relative I/O weight, 1-10000. */
  ioWeight?: number;
  ioReadBps?: IoBandwidth;
  ioWriteBps?: IoBandwidth;
  /** What to do on a monitored violation; "restart" by default. */
  policy: LimitPolicy;
  /** How often the monitor samples, in ms; 1000 by default. */
  checkIntervalMs: number;
  /** Consecutive samples above cpuCores before a CPU violation is reported; 3 by default. */
  cpuSustainSamples: number;
}

/** Names of the limits that can be exceeded (as reported in violations and warnings). */
export type LimitName =
  | "cpuCores"
  | "cpuWeight"
  | "memoryBytes"
  | "memorySwapBytes"
  | "maxProcesses"
  | "maxOpenFiles"
  | "maxAddressSpaceBytes"
  | "ioWeight"
  | "ioReadBps"
  | "ioWriteBps";

const MIB = 1024 * 1024;
const policies: readonly LimitPolicy[] = ["log", "restart", "stop", "kill"];
const known = new Set([
  "cpuCores", "cpuWeight", "cpuShares", "memoryBytes", "memorySwapBytes", "maxProcesses", "maxOpenFiles",
  "maxAddressSpaceBytes", "ioWeight", "ioReadBps", "ioWriteBps", "policy", "checkIntervalMs", "cpuSustainSamples",
]);

/**
 * Checks and normalizes resource limits, collecting every problem with its
 * field (`<field>.<key>`); the value is a frozen ResourceLimits (cpuShares
 * converted to cpuWeight, defaults filled in). Accepts its own output, so
 * checking twice is harmless.
 */
export function checkResourceLimits(input: unknown, field = "limits"): Checked<ResourceLimits> {
  if (input === undefined || input === null) {
    return { value: Object.freeze({ ...specDefaults.limits }), issues: [] };
  }
  const issues = new IssueList(field);
  if (typeof input !== "object" || Array.isArray(input)) {
    issues.add("", `must be an object of limits (e.g. { memoryBytes: 268435456 }), got ${describe(input)}`);
    return { value: undefined, issues: issues.issues };
  }
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) issues.add(key, `unknown resource limit; known limits: ${[...known].join(", ")}`);
  }
  const number = (key: string, min: number, max: number, integer: boolean, hint = ""): number | undefined => {
    const value = raw[key];
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value)) return issues.add(key, `must be a number, got ${describe(value)}`);
    if (integer && !Number.isInteger(value)) return issues.add(key, `must be a whole number, got ${value}`);
    if (value < min || value > max) return issues.add(key, `must be between ${min} and ${max}${hint}, got ${value}`);
    return value;
  };
  const big = Number.MAX_SAFE_INTEGER;
  const out: Record<string, unknown> = {};
  const set = (key: string, value: unknown) => {
    if (value !== undefined) out[key] = value;
  };
  set("cpuCores", number("cpuCores", 0.001, 4096, false, " cores"));
  const weight = number("cpuWeight", 1, 10000, true);
  const shares = number("cpuShares", 2, 262144, true);
  if (weight !== undefined && shares !== undefined) issues.add("cpuShares", "give either cpuWeight or cpuShares, not both");
  // The conversion runc uses between cgroup v1 shares and v2 weights.
  set("cpuWeight", weight ?? (shares === undefined ? undefined : 1 + Math.round(((shares - 2) * 9999) / 262142)));
  set("memoryBytes", number("memoryBytes", MIB, big, true, " (at least 1 MiB)"));
  set("memorySwapBytes", number("memorySwapBytes", 0, big, true));
  set("maxProcesses", number("maxProcesses", 1, 4194304, true));
  set("maxOpenFiles", number("maxOpenFiles", 1, 1 << 30, true));
  set("maxAddressSpaceBytes", number("maxAddressSpaceBytes", MIB, big, true, " (at least 1 MiB)"));
  set("ioWeight", number("ioWeight", 1, 10000, true));
  set("ioReadBps", bandwidth(raw.ioReadBps, "ioReadBps", issues));
  set("ioWriteBps", bandwidth(raw.ioWriteBps, "ioWriteBps", issues));
  const policy = raw.policy ?? specDefaults.limits.policy;
  if (!policies.includes(policy as LimitPolicy)) issues.add("policy", `must be one of ${policies.join(", ")}, got ${describe(policy)}`);
  out.policy = policy;
  out.checkIntervalMs = number("checkIntervalMs", 10, 86_400_000, true) ?? specDefaults.limits.checkIntervalMs;
  out.cpuSustainSamples = number("cpuSustainSamples", 1, 1000, true) ?? specDefaults.limits.cpuSustainSamples;
  if (!issues.ok) return { value: undefined, issues: issues.issues };
  return { value: Object.freeze(out) as unknown as ResourceLimits, issues: [] };
}

/**
 * Checks and normalizes resource limits from a config file. Throws
 * HsuError("invalid_config") naming the unit and the field of the first
 * problem (`issues` lists all of them); see {@link checkResourceLimits}.
 */
export function validateResourceLimits(input: unknown, where: { unit: string; field: string }): ResourceLimits {
  const { value, issues } = checkResourceLimits(input, where.field);
  if (value) return value;
  const at: HsuErrorWhere = { unit: where.unit, field: issues[0]!.field };
  throw Object.assign(new HsuError("invalid_config", issues[0]!.message, at), { issues });
}

function bandwidth(value: unknown, key: string, issues: IssueList): IoBandwidth | undefined {
  if (value === undefined) return undefined;
  const check = (v: unknown, field: string): number | undefined => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) return issues.add(field, `must be a whole number of bytes per second >= 1, got ${describe(v)}`);
    return v;
  };
  if (typeof value === "number") return check(value, key);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return issues.add(key, `must be bytes per second, or an object of "major:minor" device -> bytes per second, got ${describe(value)}`);
  }
  const devices: Record<string, number> = {};
  for (const [device, v] of Object.entries(value)) {
    if (!/^\d+:\d+$/.test(device)) issues.add(`${key}.${device}`, `device must be "major:minor" (see /sys/block/<dev>/dev), got "${device}"`);
    const n = check(v, `${key}.${device}`);
    if (n !== undefined) devices[device] = n;
  }
  return Object.freeze(devices);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "an array";
  return value === null ? "null" : typeof value === "object" ? "an object" : String(value);
}
