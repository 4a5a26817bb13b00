import type * as http2 from "node:http2";

/**
 * What the unit proxy passes between a caller and a unit: the one rule,
 * documented in docs/unit-contract.md ("Calls through the master").
 *
 * Never forwarded, either way:
 * - pseudo-headers (`:path`, `:authority`...): the proxy sets its own;
 * - connection-specific headers (RFC 9113 8.2.2) and `host`;
 * - credentials meant for the master or an intermediary: `authorization`,
 *   `proxy-authorization`, `cookie`, `set-cookie`. A unit never learns the
 *   master's control token, nor a Unix-socket caller's own secret;
 * - every key that starts with `hsu-` (the routing header `hsu-unit`, and any
 *   metadata the master keeps for itself).
 *
 * Everything else (gRPC and Connect protocol headers, custom metadata,
 * `-bin` metadata) is forwarded unchanged, so a unit called through the
 * master sees what it would see when called directly, minus credentials.
 */
const DROPPED = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
]);
/** Metadata keys with this prefix are the master's own; they never reach a unit. */
export const RESERVED_PREFIX = "hsu-";

/** True when the proxy may pass this header (lower-case name) on. */
export function forwardableHeader(name: string): boolean {
  return !name.startsWith(":") && !name.startsWith(RESERVED_PREFIX) && !DROPPED.has(name);
}

/** The headers of `headers` the proxy may pass on, in either direction. */
export function forwardableHeaders(headers: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || !forwardableHeader(k)) continue;
    // `te` may only say "trailers" on HTTP/2 (RFC 9113 8.2.2).
    if (k === "te" && v !== "trailers") continue;
    out[k] = v;
  }
  return out;
}
