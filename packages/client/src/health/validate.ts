import { HsuError } from "../errors.ts";
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
 * Checks a health check from config and applies the defaults. Every problem
 * is an HsuError("invalid_config") naming the unit and the exact field
 * (`<where.field>.<key>`), so a typo in a config file is found at load time,
 * not when the first probe runs. Unknown keys are rejected for the same reason.
 */
export function validateHealthCheckSpec(input: unknown, where: Where): HealthCheckSpec {
  const fail = (key: string | undefined, message: string): never => {
    throw new HsuError("invalid_config", message, { unit: where.unit, field: key ? `${where.field}.${key}` : where.field });
  };
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return fail(undefined, `a health check must be an object with a "type" (process, http, tcp, exec or grpc), got ${describe(input)}`);
  }
  const raw = input as Input;
  const type = raw["type"];
  if (typeof type !== "string" || !(type in typeKeys)) {
    return fail("type", `must be one of process, http, tcp, exec, grpc; got ${describe(type)}`);
  }
  const allowed = new Set(["type", ...timingKeys, ...(typeKeys[type] ?? [])]);
  for (const key of Object.keys(raw)) {
    if (!allowed.has(key)) fail(key, `is not a field of a "${type}" health check; allowed: ${[...allowed].join(", ")}`);
  }

  const timing = {} as HealthCheckTiming;
  for (const key of timingKeys) {
    const value = raw[key] ?? healthCheckDefaults[key];
    const min = key === "initialDelayMs" ? 0 : 1;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
      fail(key, `must be an integer >= ${min}${key.endsWith("Ms") ? " (milliseconds)" : ""}, got ${describe(raw[key])}`);
    }
    timing[key] = value as number;
  }

  const str = (key: string, opts: { required?: boolean; nonEmpty?: boolean } = {}): string | undefined => {
    const v = raw[key];
    if (v === undefined) return opts.required ? fail(key, "is required") : undefined;
    if (typeof v !== "string") return fail(key, `must be a string, got ${describe(v)}`);
    if (opts.nonEmpty && v.length === 0) return fail(key, "must not be empty");
    return v;
  };
  const strMap = (key: string): Record<string, string> | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== "object" || v === null || Array.isArray(v)) return fail(key, `must be an object of strings, got ${describe(v)}`);
    for (const [k, x] of Object.entries(v)) if (typeof x !== "string") fail(`${key}.${k}`, `must be a string, got ${describe(x)}`);
    return { ...(v as Record<string, string>) };
  };
  const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

  let spec: HealthCheckSpec;
  switch (type) {
    case "process":
      spec = { ...timing, type };
      break;
    case "http": {
      const url = str("url", { required: true }) as string;
      let parsed: URL | undefined;
      try {
        parsed = new URL(url);
      } catch {
        fail("url", `must be an absolute http:// or https:// URL, got ${JSON.stringify(url)}`);
      }
      if (parsed && parsed.protocol !== "http:" && parsed.protocol !== "https:") fail("url", `must use http or https, got ${parsed.protocol}`);
      const method = str("method", { nonEmpty: true })?.toUpperCase();
      spec = defined({ ...timing, type, url, method, headers: strMap("headers"), expectStatus: expectStatus(raw["expectStatus"], fail), bodyContains: str("bodyContains") });
      break;
    }
    case "tcp": {
      const path = str("path", { nonEmpty: true });
      if (path !== undefined) {
        if (raw["port"] !== undefined || raw["host"] !== undefined) fail("path", "give either path (a Unix socket) or host/port, not both");
        spec = { ...timing, type, path };
      } else {
        const port = raw["port"];
        if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
          fail("port", `must be an integer 1-65535 (or give path for a Unix socket), got ${describe(port)}`);
        }
        spec = defined({ ...timing, type, host: str("host", { nonEmpty: true }), port: port as number });
      }
      break;
    }
    case "exec": {
      const args = raw["args"];
      if (args !== undefined && (!Array.isArray(args) || args.some((a) => typeof a !== "string"))) fail("args", `must be an array of strings, got ${describe(args)}`);
      spec = defined({ ...timing, type, command: str("command", { required: true, nonEmpty: true }) as string, args: args ? [...(args as string[])] : undefined, env: strMap("env"), cwd: str("cwd", { nonEmpty: true }) });
      break;
    }
    default: {
      const address = str("address", { required: true, nonEmpty: true }) as string;
      if (!/^unix:(\/\/)?\/./.test(address) && !/^(tcp:\/\/)?(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/.test(address)) {
        fail("address", `must be unix:/absolute/path.sock or host:port, got ${JSON.stringify(address)}`);
      }
      spec = { ...timing, type: "grpc", address, service: str("service") ?? "" };
    }
  }
  return Object.freeze(spec);
}

function expectStatus(v: unknown, fail: (key: string, message: string) => never): number | [number, number] | undefined {
  if (v === undefined) return undefined;
  const ok = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 100 && n <= 599;
  if (ok(v)) return v;
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1]) && v[0] <= v[1]) return [v[0], v[1]];
  return fail("expectStatus", `must be an HTTP status (100-599) or a range [min, max], got ${describe(v)}`);
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
