import type { GatewayCors } from "./config.ts";

/** What a CORS check decided: headers to add, and whether the request was a preflight to answer at once. */
export interface CorsDecision {
  readonly headers: Record<string, string>;
  /** A preflight (OPTIONS with Access-Control-Request-Method): answer 204 with `headers`, or 403 when not allowed. */
  readonly preflight: "none" | "allowed" | "denied";
  /** Why a preflight was denied. */
  readonly reason?: string;
}

// Request headers the protocols themselves use: always allowed.
const PROTOCOL_HEADERS = [
  "content-type", "accept", "authorization", "connect-protocol-version", "connect-timeout-ms", "connect-accept-encoding", "connect-content-encoding",
  "grpc-timeout", "x-grpc-web", "x-user-agent", "grpc-accept-encoding",
];
// Response headers a browser script may read: the status of a gRPC-Web or Connect call lives in them.
const EXPOSED = ["grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-encoding", "connect-content-encoding", "retry-after"];
const METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS";

/**
 * Decides CORS for one request from the `cors:` config: the origin must be
 * listed (or "*" be), a preflight may ask only for the protocols' headers and
 * the configured ones. Without `cors:` no CORS header is sent (same-origin only).
 */
export function corsDecision(cors: GatewayCors | undefined, method: string, h: Record<string, string | string[] | undefined>): CorsDecision {
  const origin = typeof h.origin === "string" ? h.origin : undefined;
  const isPreflight = method === "OPTIONS" && h["access-control-request-method"] !== undefined;
  if (!origin || !cors) return isPreflight && origin ? { headers: {}, preflight: "denied", reason: "cross-origin requests are not enabled (gateway.cors)" } : { headers: {}, preflight: "none" };
  const any = cors.origins.includes("*");
  if (!any && !cors.origins.includes(origin)) {
    return isPreflight ? { headers: { vary: "Origin" }, preflight: "denied", reason: `origin ${origin} is not in gateway.cors.origins` } : { headers: { vary: "Origin" }, preflight: "none" };
  }
  const base: Record<string, string> = { "access-control-allow-origin": any ? "*" : origin, vary: "Origin" };
  if (!any) base["access-control-allow-credentials"] = "true";
  if (!isPreflight) return { headers: { ...base, "access-control-expose-headers": EXPOSED.join(", ") }, preflight: "none" };
  const asked = String(h["access-control-request-headers"] ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const allowed = new Set([...PROTOCOL_HEADERS, ...cors.headers]);
  const refused = asked.filter((x) => !allowed.has(x));
  if (refused.length) return { headers: base, preflight: "denied", reason: `request header${refused.length > 1 ? "s" : ""} ${refused.join(", ")} not in gateway.cors.headers` };
  return {
    headers: {
      ...base,
      "access-control-allow-methods": METHODS,
      "access-control-allow-headers": [...allowed].join(", "),
      "access-control-max-age": String(Math.floor(cors.maxAgeMs / 1000)),
    },
    preflight: "allowed",
  };
}
