import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";

/**
 * The gateway's configuration as the gateway reads it: the `gateway:` block
 * of a unit in hsu.yaml, normalized by the master (absolute descriptor paths,
 * sizes in bytes, durations in ms) and written as JSON to the file named by
 * `HSU_GATEWAY_CONFIG`. `hsu-gateway --config file.json` reads the same shape.
 */
export interface GatewayConfig {
  /** host:port to listen on (TCP). */
  readonly listen: string;
  readonly tls?: GatewayTls;
  /** Where the OpenAPI document is served ("" or absent: not served). */
  readonly openapi?: string;
  readonly routes: readonly GatewayRoute[];
  readonly cors?: GatewayCors;
  readonly limits: GatewayLimits;
}

/** TLS of the listener (HTTP/2 and HTTP/1.1 by ALPN). */
export interface GatewayTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile?: string;
  readonly clientAuth: "none" | "request" | "require";
}

/** One route: the services of one unit, from its descriptor sets, under a prefix. */
export interface GatewayRoute {
  readonly unit: string;
  /** Absolute paths of FileDescriptorSet files (`buf build -o x.binpb`). */
  readonly descriptors: readonly string[];
  /** Fully-qualified service names; absent: every service in the sets but hsu.core.*, hsu.master.*, grpc.reflection.*. */
  readonly services?: readonly string[];
  /** "" or "/echo": no trailing slash. */
  readonly prefix: string;
  readonly auth: "required" | "none";
}

/** Cross-origin requests from browsers. */
export interface GatewayCors {
  /** Allowed origins; "*" allows any. */
  readonly origins: readonly string[];
  /** Request headers allowed beyond the protocols' own. */
  readonly headers: readonly string[];
  readonly maxAgeMs: number;
}

/** Request limits. */
export interface GatewayLimits {
  readonly maxBodyBytes: number;
  /** The whole request, upstream call included (also the call's grpc-timeout). */
  readonly timeoutMs: number;
  /** The request line and headers must arrive within this long. */
  readonly headerTimeoutMs: number;
  /** Per client address: `requests` per `perMs`, bursts up to `burst`. */
  readonly rate?: { readonly requests: number; readonly perMs: number; readonly burst: number };
}

/** The defaults the master and a standalone gateway apply alike. */
export const gatewayDefaults = {
  maxBodyBytes: 1024 * 1024,
  timeoutMs: 30_000,
  headerTimeoutMs: 10_000,
  corsMaxAgeMs: 600_000,
} as const;

/** A configuration that cannot be used: every problem, each with its JSON path. */
export class GatewayConfigError extends Error {
  override readonly name = "GatewayConfigError";
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(`${source}: ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.problems = problems;
  }
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const UNIT_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const PREFIX = /^(\/[A-Za-z0-9._~-]+)*$/;
const SERVICE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * Checks a parsed JSON value against {@link GatewayConfig} and fills in the
 * defaults; throws a {@link GatewayConfigError} listing every problem.
 */
export function validateGatewayConfig(value: unknown, source = "gateway config"): GatewayConfig {
  const problems: string[] = [];
  const bad = (path: string, msg: string) => void problems.push(`${path}: ${msg}`);
  const known = (o: Json, path: string, keys: string[]) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) bad(`${path}.${k}`, `unknown field; expected one of: ${keys.join(", ")}`);
  };
  const str = (o: Json, k: string, path: string, required: boolean, re?: RegExp, hint?: string): string | undefined => {
    const v = o[k];
    if (v === undefined) return required ? void bad(`${path}.${k}`, "is required") : undefined;
    if (typeof v !== "string") return void bad(`${path}.${k}`, `expected a string, got ${JSON.stringify(v)}`);
    if (re && !re.test(v)) return void bad(`${path}.${k}`, `expected ${hint}, got ${JSON.stringify(v)}`);
    return v;
  };
  const int = (o: Json, k: string, path: string, def: number | undefined, min: number): number | undefined => {
    const v = o[k];
    if (v === undefined) return def;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) return void bad(`${path}.${k}`, `expected a whole number of at least ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const strs = (o: Json, k: string, path: string): string[] | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) return void bad(`${path}.${k}`, "expected a list of strings");
    return v as string[];
  };
  if (!isObj(value)) throw new GatewayConfigError(source, ["(top): expected a JSON object"]);
  known(value, "", ["listen", "tls", "openapi", "routes", "cors", "limits"]);
  const listen = str(value, "listen", "", true, /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "host:port like 127.0.0.1:8080");
  if (listen !== undefined && Number(listen.slice(listen.lastIndexOf(":") + 1)) > 65535) bad(".listen", `port out of range in ${JSON.stringify(listen)}`);
  let tls: GatewayTls | undefined;
  if (value.tls !== undefined) {
    if (!isObj(value.tls)) bad(".tls", "expected an object");
    else {
      const t = value.tls;
      known(t, ".tls", ["certFile", "keyFile", "clientCaFile", "clientAuth"]);
      const certFile = str(t, "certFile", ".tls", true);
      const keyFile = str(t, "keyFile", ".tls", true);
      const clientCaFile = str(t, "clientCaFile", ".tls", false);
      const clientAuth = (str(t, "clientAuth", ".tls", false, /^(none|request|require)$/, '"none", "request" or "require"') ?? (clientCaFile ? "require" : "none")) as GatewayTls["clientAuth"];
      if (clientAuth !== "none" && !clientCaFile) bad(".tls.clientAuth", `"${clientAuth}" needs clientCaFile (the CA that signs client certificates)`);
      if (certFile && keyFile) tls = { certFile, keyFile, ...(clientCaFile ? { clientCaFile } : {}), clientAuth };
    }
  }
  const openapi = str(value, "openapi", "", false, /^(\/[A-Za-z0-9._~-]+)+$/, 'a path like "/openapi.json"');
  const routes: GatewayRoute[] = [];
  if (!Array.isArray(value.routes) || value.routes.length === 0) bad(".routes", "expected a non-empty list of routes");
  else {
    value.routes.forEach((r, i) => {
      const at = `.routes[${i}]`;
      if (!isObj(r)) return bad(at, "expected an object");
      known(r, at, ["unit", "descriptors", "services", "prefix", "auth"]);
      const unit = str(r, "unit", at, true, UNIT_ID, 'a unit id like "echo"');
      const d = r.descriptors;
      const descriptors = typeof d === "string" ? [d] : Array.isArray(d) && d.length > 0 && d.every((x) => typeof x === "string") ? (d as string[]) : undefined;
      if (!descriptors) bad(`${at}.descriptors`, "expected a path or a non-empty list of paths of FileDescriptorSet files (buf build -o x.binpb)");
      else for (const p of descriptors) if (!isAbsolute(p)) bad(`${at}.descriptors`, `${JSON.stringify(p)} is not an absolute path`);
      const services = strs(r, "services", at);
      for (const s of services ?? []) if (!SERVICE.test(s)) bad(`${at}.services`, `${JSON.stringify(s)} is not a fully-qualified service name like "pkg.v1.Service"`);
      const prefix = str(r, "prefix", at, false, PREFIX, 'a path prefix like "/echo" (no trailing slash, no "..")') ?? "";
      if (prefix.split("/").some((s) => s === "." || s === "..")) bad(`${at}.prefix`, `${JSON.stringify(prefix)}: "." and ".." are not path segments a prefix may have`);
      const auth = (str(r, "auth", at, false, /^(required|none)$/, '"required" or "none"') ?? "required") as GatewayRoute["auth"];
      if (unit && descriptors) routes.push({ unit, descriptors, ...(services ? { services } : {}), prefix, auth });
    });
  }
  let cors: GatewayCors | undefined;
  if (value.cors !== undefined) {
    if (!isObj(value.cors)) bad(".cors", "expected an object");
    else {
      known(value.cors, ".cors", ["origins", "headers", "maxAgeMs"]);
      const origins = strs(value.cors, "origins", ".cors") ?? [];
      for (const o of origins) if (o !== "*" && !/^https?:\/\/[^/\s]+$/.test(o)) bad(".cors.origins", `${JSON.stringify(o)} is not an origin like "https://app.example.com" (scheme://host[:port], no path) or "*"`);
      const headers = strs(value.cors, "headers", ".cors") ?? [];
      for (const h of headers) if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(h)) bad(".cors.headers", `${JSON.stringify(h)} is not a header name`);
      const maxAgeMs = int(value.cors, "maxAgeMs", ".cors", gatewayDefaults.corsMaxAgeMs, 0)!;
      cors = { origins, headers: headers.map((h) => h.toLowerCase()), maxAgeMs };
    }
  }
  const l = value.limits === undefined ? {} : value.limits;
  let limits: GatewayLimits = { maxBodyBytes: gatewayDefaults.maxBodyBytes, timeoutMs: gatewayDefaults.timeoutMs, headerTimeoutMs: gatewayDefaults.headerTimeoutMs };
  if (!isObj(l)) bad(".limits", "expected an object");
  else {
    known(l, ".limits", ["maxBodyBytes", "timeoutMs", "headerTimeoutMs", "rate"]);
    let rate: GatewayLimits["rate"];
    if (l.rate !== undefined) {
      if (!isObj(l.rate)) bad(".limits.rate", "expected an object");
      else {
        known(l.rate, ".limits.rate", ["requests", "perMs", "burst"]);
        const requests = int(l.rate, "requests", ".limits.rate", undefined, 1);
        if (requests === undefined && l.rate.requests === undefined) bad(".limits.rate.requests", "is required");
        const perMs = int(l.rate, "perMs", ".limits.rate", 1000, 1)!;
        const burst = int(l.rate, "burst", ".limits.rate", requests, 1);
        if (requests !== undefined && burst !== undefined) rate = { requests, perMs, burst };
      }
    }
    limits = {
      maxBodyBytes: int(l, "maxBodyBytes", ".limits", gatewayDefaults.maxBodyBytes, 0)!,
      timeoutMs: int(l, "timeoutMs", ".limits", gatewayDefaults.timeoutMs, 1)!,
      headerTimeoutMs: int(l, "headerTimeoutMs", ".limits", gatewayDefaults.headerTimeoutMs, 1)!,
      ...(rate ? { rate } : {}),
    };
  }
  const seen = new Set<string>();
  for (const r of routes) {
    const key = `${r.unit} ${r.prefix}`;
    if (seen.has(key)) bad(".routes", `unit "${r.unit}" is routed twice under the prefix ${JSON.stringify(r.prefix)}`);
    seen.add(key);
  }
  if (problems.length) throw new GatewayConfigError(source, problems);
  return { listen: listen!, ...(tls ? { tls } : {}), ...(openapi ? { openapi } : {}), routes, ...(cors ? { cors } : {}), limits };
}

/** Reads and validates a config file (JSON). */
export function loadGatewayConfig(file: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new GatewayConfigError(file, [`cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new GatewayConfigError(file, [`is not JSON: ${(e as Error).message}`]);
  }
  return validateGatewayConfig(value, file);
}
