/**
 * Who a call is from, and what it may do: the one auth model shared by the
 * master's TCP control API, its unit proxy and the gateway (which forwards
 * its callers' credentials to the master; the master decides).
 */

/** The roles, weakest first. Each of viewer < operator < admin includes the ones before it; admin also includes caller. */
export const ROLES = ["caller", "viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** How a principal proved who it is. */
export type PrincipalKind = "socket-owner" | "control-token" | "api-token" | "oidc" | "anonymous";

/** An authenticated caller. Scopes narrow what its roles allow; an empty list means "any". */
export interface Principal {
  readonly kind: PrincipalKind;
  /** Stable id for the audit log: the token id, the OIDC `iss`+`sub`, "owner", "anonymous". */
  readonly subject: string;
  readonly roles: readonly Role[];
  /** Unit id globs ("echo", "worker-*"); empty: every unit. */
  readonly units: readonly string[];
  /** "pkg.Service/Method" globs ("hsu.examples.echo.v1.EchoService/*"); empty: every method. */
  readonly methods: readonly string[];
  /** When the credential stops being valid (ms since the epoch), if it does. */
  readonly expiresAt?: number;
}

/** What a call wants to do, as checked by the policy and written to the audit log. */
export interface Action {
  /** "control" for the master's own API, "unit" for a call forwarded to a unit. */
  readonly kind: "control" | "unit";
  /** The gRPC method, "pkg.Service/Method". */
  readonly method: string;
  /** The units the call is about (a unit call: the one unit; StartUnit: its ids; none: the whole master). */
  readonly units: readonly string[];
  /** True for a call that changes something (every unit call counts as one only when denied). */
  readonly mutating: boolean;
}
