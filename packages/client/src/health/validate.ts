import { HsuError } from "../errors.ts";
import { describeValue as describe, IssueList, type Checked, type SpecIssue } from "../spec/issues.ts";
import { healthCheckDefaults, type HealthCheckSpec, type HealthCheckTiming } from "./spec.ts";

type Where = { unit: string; field: string };
type Input = Record<string, unknown>;

const timingKeys = Object.keys(healthCheckDefaults) as (keyof HealthCheckTiming)[];
const typeKeys: Record<string, string[]> = {
  process: [],
  http: ["url", "method", "headers", "expectStatus", "bodyContains"],
  tcp: ["host", "port", "path"],
  exec: ["command", "args", "env", "cwd"],
  grpc: ["address", "service"],
};

/**
 * Checks a health check and applies the defaults, collecting every problem
 * with its field (`<field>.<key>`). The master runs it when it loads hsu.yaml
 * and hands the checked spec on, so building the monitor later cannot fail.
 */
export function checkHealthCheckSpec(input: unknown, field = "healthCheck"): Checked<HealthCheckSpec> {
  const issues = new IssueList(field);
  const done = (value: HealthCheckSpec | undefined): Checked<HealthCheckSpec> =>
    issues.ok && value ? { value: Object.freeze(value), issues: [] } : { value: undefined, issues: issues.issues };
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    issues.add("", `a health check must be an object with a "type" (process, http, tcp, exec or grpc), got ${describe(input)}`);
    return done(undefined);
  }
  const raw = input as Input;
  const type = raw["type"];
  if (typeof type !== "string" || !(type in typeKeys)) {
    issues.add("type", `must be one of process, http, tcp, exec, grpc; got ${describe(type)}`);
    return done(undefined);
  }
  const allowed = new Set(["type", ...timingKeys, ...(typeKeys[type] ?? [])]);
  for (const key of Object.keys(raw)) {
    if (!allowed.has(key)) issues.add(key, `is not a field of a "${type}" health check; allowed: ${[...allowed].join(", ")}`);
  }

  const timing = {} as HealthCheckTiming;
  for (const key of timingKeys) {
    const value = raw[key] ?? healthCheckDefaults[key];
    const min = key === "initialDelayMs" ? 0 : 1;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > 2 ** 31 - 1) {
      issues.add(key, `must be an integer >= ${min}${key.endsWith("Ms") ? " (milliseconds)" : ""}, got ${describe(raw[key])}`);
    }
    timing[key] = value as number;
  }

  const str = (key: string, opts: { required?: boolean; nonEmpty?: boolean } = {}): string | undefined => {
    const v = raw[key];
    if (v === undefined) return opts.required ? issues.add(key, "is required") : undefined;
    if (typeof v !== "string") return issues.add(key, `must be a string, got ${describe(v)}`);
    if (opts.nonEmpty && v.length === 0) return issues.add(key, "must not be empty");
    if (v.includes("\0")) return issues.add(key, "contains a NUL byte");
    return v;
  };
  const strMap = (key: string): Record<string, string> | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== "object" || v === null || Array.isArray(v)) return issues.add(key, `must be an object of strings, got ${describe(v)}`);
    for (const [k, x] of Object.entries(v)) if (typeof x !== "string") issues.add(`${key}.${k}`, `must be a string, got ${describe(x)}`);
    return { ...(v as Record<string, string>) };
  };
  const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

  switch (type) {
    case "process":
      return done({ ...timing, type });
    case "http": {
      const url = str("url", { required: true });
      if (url !== undefined) {
        let parsed: URL | undefined;
        try {
          parsed = new URL(url);
        } catch {
          issues.add("url", `must be an absolute http:// or https:// URL, got ${JSON.stringify(url)}`);
        }
        if (parsed && parsed.protocol !== "http:" && parsed.protocol !== "https:") issues.add("url", `must use http or https, got ${parsed.protocol}`);
      }
      const method = str("method", { nonEmpty: true })?.toUpperCase();
      if (method !== undefined && !/^[A-Z]+$/.test(method)) issues.add("method", `must be an HTTP method like GET or HEAD, got ${JSON.stringify(method)}`);
      const headers = strMap("headers");
      for (const name of Object.keys(headers ?? {})) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) issues.add(`headers.${name}`, "is not a valid HTTP header name");
      }
      return done(defined({ ...timing, type, url: url!, method, headers, expectStatus: expectStatus(raw["expectStatus"], issues), bodyContains: str("bodyContains") }));
    }
    case "tcp": {
      const path = str("path", { nonEmpty: true });
      if (path !== undefined) {
        if (raw["port"] !== undefined || raw["host"] !== undefined) issues.add("path", "give either path (a Unix socket) or host/port, not both");
        return done({ ...timing, type, path });
      }
      const port = raw["port"];
      if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
        issues.add("port", `must be an integer 1-65535 (or give path for a Unix socket), got ${describe(port)}`);
      }
      return done(defined({ ...timing, type, host: str("host", { nonEmpty: true }), port: port as number }));
    }
    case "exec": {
      const args = raw["args"];
      if (args !== undefined && (!Array.isArray(args) || args.some((a) => typeof a !== "string" || a.includes("\0")))) {
        issues.add("args", `must be an array of strings, got ${describe(args)}`);
      }
      const env = strMap("env");
      for (const k of Object.keys(env ?? {})) if (k === "" || k.includes("=")) issues.add(`env.${k}`, 'is not a valid environment variable name (empty or with "=")');
      return done(defined({ ...timing, type, command: str("command", { required: true, nonEmpty: true })!, args: args ? [...(args as string[])] : undefined, env, cwd: str("cwd", { nonEmpty: true }) }));
    }
    default: {
      const address = str("address", { required: true, nonEmpty: true });
      if (address !== undefined && !/^unix:(\/\/)?\/./.test(address) && !validHostPort(address)) {
        issues.add("address", `must be unix:/absolute/path.sock or host:port (port 1-65535), got ${JSON.stringify(address)}`);
      }
      return done({ ...timing, type: "grpc", address: address!, service: str("service") ?? "" });
    }
  }
}

/**
 * Checks a health check from config and applies the defaults. A problem is an
 * HsuError("invalid_config") naming the unit and the exact field
 * (`<where.field>.<key>`) of the first issue; `issues` holds all of them.
 */
export function validateHealthCheckSpec(input: unknown, where: Where): HealthCheckSpec {
  const { value, issues } = checkHealthCheckSpec(input, where.field);
  if (value) return value;
  const first = issues[0]!;
  throw Object.assign(new HsuError("invalid_config", first.message, { unit: where.unit, field: first.field }), { issues: issues as SpecIssue[] });
}

function validHostPort(address: string): boolean {
  const m = /^(tcp:\/\/)?(\[[0-9a-fA-F:.]+\]|[^:/\s]+):(\d{1,5})$/.exec(address);
  return !!m && Number(m[3]) >= 1 && Number(m[3]) <= 65535;
}

function expectStatus(v: unknown, issues: IssueList): number | [number, number] | undefined {
  if (v === undefined) return undefined;
  const ok = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 100 && n <= 599;
  if (ok(v)) return v;
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1]) && v[0] <= v[1]) return [v[0], v[1]];
  return issues.add("expectStatus", `must be an HTTP status (100-599) or a range [min, max], got ${describe(v)}`);
}
