import { isAbsolute, resolve } from "node:path";
import type { RawUnit } from "./schema.ts";

/**
 * A unit's `gateway:` block, normalized as the gateway reads it from
 * HSU_GATEWAY_CONFIG (packages/gateway/src/config.ts, GatewayConfig): paths
 * absolute, sizes in bytes, durations in ms, defaults applied.
 */
export interface GatewaySpec {
  readonly listen: string;
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly clientCaFile?: string; readonly clientAuth: "none" | "request" | "require" };
  readonly openapi?: string;
  readonly routes: readonly {
    readonly unit: string;
    readonly descriptors: readonly string[];
    readonly services?: readonly string[];
    readonly prefix: string;
    readonly auth: "required" | "none";
  }[];
  readonly cors?: { readonly origins: readonly string[]; readonly headers: readonly string[]; readonly maxAgeMs: number };
  readonly limits: {
    readonly maxBodyBytes: number;
    readonly timeoutMs: number;
    readonly headerTimeoutMs: number;
    readonly rate?: { readonly requests: number; readonly perMs: number; readonly burst: number };
  };
}

type RawGateway = NonNullable<RawUnit["gateway"]>;

/** The variable naming the gateway's config file, and the one naming the master's socket it calls units through. */
export const GATEWAY_CONFIG_ENV = "HSU_GATEWAY_CONFIG";
export const CONTROL_SOCKET_ENV = "HSU_CONTROL_SOCKET";

/** `gateway:` with its defaults, paths resolved against `baseDir` (hsu.yaml's directory). */
export function gatewayDefaults(g: RawGateway, baseDir: string): GatewaySpec {
  const at = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const rate = g.limits?.rate;
  return {
    listen: g.listen!,
    ...(g.tls
      ? {
          tls: {
            certFile: at(g.tls.cert_file!),
            keyFile: at(g.tls.key_file!),
            ...(g.tls.client_ca_file ? { clientCaFile: at(g.tls.client_ca_file) } : {}),
            clientAuth: g.tls.client_auth ?? (g.tls.client_ca_file ? "require" : "none"),
          },
        }
      : {}),
    ...(g.openapi ? { openapi: g.openapi } : {}),
    routes: (g.routes ?? []).map((r) => ({
      unit: r.unit!,
      descriptors: (typeof r.descriptors === "string" ? [r.descriptors] : (r.descriptors ?? [])).map(at),
      ...(r.services ? { services: r.services } : {}),
      prefix: r.prefix ?? "",
      auth: r.auth ?? "required",
    })),
    ...(g.cors ? { cors: { origins: g.cors.origins ?? [], headers: (g.cors.headers ?? []).map((h) => h.toLowerCase()), maxAgeMs: g.cors.max_age ?? 600_000 } } : {}),
    limits: {
      maxBodyBytes: g.limits?.max_body ?? 1024 * 1024,
      timeoutMs: g.limits?.timeout ?? 30_000,
      headerTimeoutMs: g.limits?.header_timeout ?? 10_000,
      ...(rate?.requests ? { rate: { requests: rate.requests, perMs: rate.per ?? 1000, burst: rate.burst ?? rate.requests } } : {}),
    },
  };
}

// Services a route without `services:` leaves out (as the gateway does).
const HIDDEN = ["hsu.core.", "hsu.master.", "grpc.reflection."];

/**
 * Which (unit, service) pairs anonymous callers may reach: those of the
 * gateway routes declared `auth: none` - the services a route names, or,
 * when it names none, every service of its unit but the HSU and reflection
 * ones (the gateway's default). Everything else needs a credential.
 */
export function publicServices(spec: { readonly units: Readonly<Record<string, { readonly gateway?: GatewaySpec | undefined }>> }): (unit: string, service: string) => boolean {
  const named = new Set<string>();
  const whole = new Set<string>();
  for (const u of Object.values(spec.units)) {
    for (const r of u.gateway?.routes ?? []) {
      if (r.auth !== "none") continue;
      if (r.services) for (const s of r.services) named.add(`${r.unit}\0${s}`);
      else whole.add(r.unit);
    }
  }
  return (unit, service) => named.has(`${unit}\0${service}`) || (whole.has(unit) && !HIDDEN.some((p) => service.startsWith(p)));
}
