import { HsuError } from "@hsu/client";
import type { JWTPayload } from "jose";
import { ROLES, type Principal, type Role } from "./principal.ts";

/** One trusted OIDC identity provider, as `master.auth.oidc[]` configures it (defaults applied). */
export interface OidcProviderConfig {
  /** The `iss` its tokens carry, and where discovery looks (`<issuer>/.well-known/openid-configuration`). */
  readonly issuer: string;
  /** The `aud` a token must carry (any one of them). */
  readonly audience: readonly string[];
  /** The claim holding the caller's groups or roles: a string or a list of strings (default "roles"). */
  readonly rolesClaim: string;
  /** Claim value -> role. A value equal to a role name maps to that role unless the map says otherwise. */
  readonly roleMap: Readonly<Record<string, Role>>;
  /**
   * The claim listing the unit id globs the caller may reach (a string or a list; "*" is every unit).
   * When set, a token without it (or with an empty list) is refused: a missing scope never means "all".
   * Unset: every unit.
   */
  readonly unitsClaim: string | undefined;
  /** The JWKS URL; unset: the one discovery names. */
  readonly jwksUri: string | undefined;
  /** Leeway for exp/nbf/iat against clock skew, in ms (default 30 s). */
  readonly clockToleranceMs: number;
  /** The signature algorithms accepted (asymmetric only; default every one in {@link OIDC_ALGORITHMS}). */
  readonly algorithms: readonly OidcAlgorithm[];
}

/**
 * The asymmetric JWS algorithms a provider's tokens may be signed with. No
 * `none`, and no HS*: a shared-secret MAC checked with a public key is the
 * classic algorithm-confusion forgery.
 */
export const OIDC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"] as const;
export type OidcAlgorithm = (typeof OIDC_ALGORITHMS)[number];

/** The default `roles_claim`. */
export const DEFAULT_ROLES_CLAIM = "roles";
/** The default `clock_tolerance`, in ms. */
export const DEFAULT_CLOCK_TOLERANCE_MS = 30_000;

/** A claim as a list of strings: a string is one item (or several, space-separated, as `scope` is written); anything else is refused. */
function stringList(payload: JWTPayload, claim: string, issuer: string): string[] | undefined {
  // A dotted name reaches into nested claims (Keycloak's realm_access.roles).
  let value: unknown = payload;
  for (const part of claim.split(".")) value = value && typeof value === "object" ? (value as Record<string, unknown>)[part] : undefined;
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value.split(" ").filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value;
  throw new HsuError("unauthenticated", `the token's "${claim}" claim is neither a string nor a list of strings (issuer ${issuer})`);
}

/**
 * The Principal a verified token stands for: subject `iss|sub`, roles from
 * the roles claim through the role map, units from the units claim, expiry
 * from `exp`. A token that maps to no role is refused (permission_denied):
 * it proved who it is, not that it may do anything.
 */
export function principalFromClaims(payload: JWTPayload, provider: OidcProviderConfig): Principal {
  const issuer = provider.issuer;
  if (typeof payload.sub !== "string" || payload.sub === "") throw new HsuError("unauthenticated", `the token has no "sub" claim (issuer ${issuer})`);
  const values = stringList(payload, provider.rolesClaim, issuer) ?? [];
  const roles = new Set<Role>();
  for (const v of values) {
    const role = Object.hasOwn(provider.roleMap, v) ? provider.roleMap[v] : (ROLES as readonly string[]).includes(v) ? (v as Role) : undefined;
    if (role) roles.add(role);
  }
  if (roles.size === 0) {
    const had = values.length ? `it has ${values.map((v) => JSON.stringify(v)).join(", ")}` : `it has no "${provider.rolesClaim}" claim`;
    const known = Object.keys(provider.roleMap);
    throw new HsuError(
      "permission_denied",
      `no role mapped for ${issuer}|${payload.sub}: ${had}; map one in master.auth.oidc role_map${known.length ? ` (mapped: ${known.join(", ")})` : ""} or use a role name (${ROLES.join(", ")})`,
    );
  }
  const units = provider.unitsClaim ? unitScopes(payload, provider.unitsClaim, `${issuer}|${payload.sub}`, issuer) : [];
  return {
    kind: "oidc",
    subject: `${issuer}|${payload.sub}`,
    roles: ROLES.filter((r) => roles.has(r)),
    units,
    methods: [],
    ...(typeof payload.exp === "number" ? { expiresAt: payload.exp * 1000 } : {}),
  };
}

/** The unit globs of a token whose provider scopes units: present and non-empty, or refused (fail closed). */
function unitScopes(payload: JWTPayload, claim: string, who: string, issuer: string): string[] {
  const units = stringList(payload, claim, issuer);
  if (!units?.length) {
    throw new HsuError("permission_denied", `${who} has no unit scope: its "${claim}" claim is ${units ? "empty" : "missing"}; the identity provider must list the units it may reach ("*" for every unit)`);
  }
  return units.includes("*") ? [] : units;
}
