import { checkBearer } from "@hsu/transport";
import { JWT_UNCHECKED } from "./messages.ts";
import type { Principal } from "./principal.ts";
import { looksLikeApiToken, type TokenStore } from "./tokens.ts";

/** Verifies a JWT from an identity provider (OIDC): the principal it stands for, or a rejection (an Error whose message says why). */
export type JwtVerifier = (jwt: string) => Promise<Principal>;

/** Where credentials are checked: API tokens, the legacy control token, and optionally OIDC. */
export interface Authenticators {
  readonly tokens?: TokenStore;
  /** master.control.token_file's token: an admin principal of kind control-token. */
  readonly controlToken?: string;
  readonly oidc?: JwtVerifier;
}

/**
 * The outcome of {@link authenticate}: a principal, or why the credential was refused: UNAUTHENTICATED,
 * or PERMISSION_DENIED when `denied` (a genuine credential that may do nothing), or UNAVAILABLE when
 * `unavailable` (it could not be checked now: its identity provider did not answer; the caller may retry).
 */
export type Authentication = { readonly principal: Principal } | { readonly refused: string; readonly denied?: boolean; readonly unavailable?: boolean };

/** The legacy control token's principal: admin over everything. */
export const CONTROL_TOKEN_PRINCIPAL: Principal = Object.freeze({ kind: "control-token", subject: "control-token", roles: ["admin"] as const, units: [], methods: [] });

/** The principal of a Unix-socket caller without `hsu-caller`: the socket's owner, admin (file permissions are the model). */
export const SOCKET_OWNER: Principal = Object.freeze({ kind: "socket-owner", subject: "owner", roles: ["admin"] as const, units: [], methods: [] });

/** A caller that sent no credential (only gateway calls to `auth: none` routes let one through). */
export const ANONYMOUS: Principal = Object.freeze({ kind: "anonymous", subject: "anonymous", roles: [], units: [], methods: [] });

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Who an `authorization` header value stands for. `Bearer hsu_<id>_<secret>`
 * is an API token; a JWT goes to the OIDC verifier when one is configured;
 * anything else is compared (in constant time) with the control token.
 * No header is `{ principal: ANONYMOUS }`: whether anonymous may do
 * anything is the policy's and the listener's business, not this one's.
 */
export async function authenticate(authorization: string | undefined, using: Authenticators): Promise<Authentication> {
  if (authorization === undefined || authorization === "") return { principal: ANONYMOUS };
  const m = /^Bearer +(\S+) *$/i.exec(authorization);
  if (!m) return { refused: "the authorization header is not `Bearer <token>`" };
  const bearer = m[1]!;
  if (looksLikeApiToken(bearer)) {
    if (!using.tokens) return { refused: "this master has no API tokens" };
    const r = using.tokens.verify(bearer);
    return "refused" in r ? r : { principal: r };
  }
  if (JWT.test(bearer) && using.oidc) {
    try {
      return { principal: await using.oidc(bearer) };
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      // The provider's discovery or key set could not be fetched: nothing is known against the token, so not UNAUTHENTICATED.
      if (code === "unavailable") return { refused: `${JWT_UNCHECKED}: ${(e as Error).message}`, unavailable: true };
      // A genuine token that maps to no role (or lacks its unit scope) is PERMISSION_DENIED, not UNAUTHENTICATED.
      const denied = code === "permission_denied";
      return { refused: `the JWT was not accepted: ${(e as Error).message}`, ...(denied ? { denied } : {}) };
    }
  }
  if (using.controlToken !== undefined && checkBearer(`Bearer ${bearer}`, using.controlToken) === "ok") return { principal: CONTROL_TOKEN_PRINCIPAL };
  return {
    refused: `the bearer token is neither an API token (hsu_<id>_<secret>)${using.oidc ? ", a JWT this master accepts," : ""} nor the control token; create one with \`hsu token create\``,
  };
}
