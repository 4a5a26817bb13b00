import { HsuError } from "@hsu/client";
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type ProtectedHeaderParameters,
  type RemoteJWKSet,
} from "jose";
import { OIDC_ALGORITHMS, principalFromClaims, type OidcProviderConfig } from "./oidc-claims.ts";
import type { Principal } from "./principal.ts";

export { DEFAULT_CLOCK_TOLERANCE_MS, DEFAULT_ROLES_CLAIM, OIDC_ALGORITHMS, principalFromClaims, type OidcAlgorithm, type OidcProviderConfig } from "./oidc-claims.ts";

/** Options of {@link createOidcVerifier}. */
export interface OidcVerifierOptions {
  /** The trusted providers; a token is checked against the one whose `issuer` equals its `iss`. */
  readonly providers: readonly OidcProviderConfig[];
  /** How long discovery and each JWKS fetch may take (default 5 s). */
  readonly fetchTimeoutMs?: number;
  /** After a JWKS fetch, how long an unknown `kid` waits before it may refetch (default 30 s): a flood of made-up kids costs one fetch. */
  readonly jwksCooldownMs?: number;
  /** Verified tokens kept (until their `exp`), so a hot caller costs one signature check (default 1000). */
  readonly cacheSize?: number;
  /** Milliseconds since the epoch (the clock's `now`); default Date.now. */
  readonly now?: () => number;
  /**
   * Told of every key set fetched (a rotation may have removed keys); the
   * fetch's tokens are checked only once it settles (the master starts a new
   * grant epoch here, so a gateway's direct grants never outlive a key).
   */
  readonly onKeySet?: () => Promise<void>;
}

/** Checks bearer JWTs from the configured OIDC providers. */
export interface OidcVerifier {
  /**
   * The Principal a JWT stands for, or an HsuError saying why not:
   * `unauthenticated` for a malformed, expired, not yet valid, wrongly
   * signed token, a wrong issuer or audience, an unknown key; `permission_denied`
   * for a valid token that maps to no role (or no unit scope); `unavailable`
   * when the provider's discovery or JWKS cannot be fetched.
   */
  verify(jwt: string): Promise<Principal>;
  /** Runs discovery and fetches the key set of every provider now (at startup), so a wrong issuer URL shows before the first call. */
  discover(): Promise<void>;
}

/** What a JWT looks like on the wire: three base64url parts. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Longest token accepted: an IdP's access token is a few KiB; a bigger one is an attack on the parser. */
const MAX_JWT_BYTES = 16 * 1024;

interface ProviderState {
  readonly config: OidcProviderConfig;
  jwks?: Promise<RemoteJWKSet>;
  /** Bumped on every JWKS fetch: a cached verification from an older key set is checked again. */
  generation: number;
}

interface Cached {
  readonly principal: Principal;
  readonly expiresAt: number;
  readonly provider: ProviderState;
  readonly generation: number;
}

const unauthenticated = (message: string, cause?: unknown) => new HsuError("unauthenticated", message, {}, cause === undefined ? {} : { cause });

/** The provider's discovery document, fetched with a deadline; its `issuer` must be the configured one (OIDC Discovery 4.3). */
async function discoverJwksUri(issuer: string, timeoutMs: number): Promise<string> {
  const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  let doc: unknown;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "error", headers: { accept: "application/json" } });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    doc = await res.json();
  } catch (e) {
    const why = (e as Error).name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (e as Error).message;
    throw new HsuError("unavailable", `OIDC discovery for issuer ${issuer} failed: GET ${url}: ${why}; check master.auth.oidc issuer (or set jwks_uri)`, {}, { cause: e });
  }
  const d = doc as { issuer?: unknown; jwks_uri?: unknown } | null;
  if (!d || typeof d !== "object" || typeof d.jwks_uri !== "string") {
    throw new HsuError("unavailable", `OIDC discovery for issuer ${issuer}: ${url} has no jwks_uri`);
  }
  if (d.issuer !== issuer) {
    throw new HsuError("unavailable", `OIDC discovery for issuer ${issuer}: ${url} names issuer ${JSON.stringify(d.issuer)}; master.auth.oidc issuer must be exactly that`);
  }
  return d.jwks_uri;
}

function describeWhen(ms: number): string {
  return new Date(ms).toISOString();
}

/** What the verifier knows of its key set when a check failed, for the reason it gives. */
interface KeySetState {
  /** True when the key set was fetched while this token was checked (so an unknown kid is really not there). */
  readonly refetched: boolean;
  readonly cooldownMs: number;
}

/** jose's failure as the precise reason a caller reads. */
function explain(e: unknown, payload: JWTPayload, header: ProtectedHeaderParameters, provider: OidcProviderConfig, now: number, keys: KeySetState): HsuError {
  if (HsuError.is(e)) return e;
  const issuer = provider.issuer;
  if (e instanceof joseErrors.JWTExpired) {
    return unauthenticated(`the token expired at ${typeof payload.exp === "number" ? describeWhen(payload.exp * 1000) : "?"} (now ${describeWhen(now)}; issuer ${issuer}); get a new one`, e);
  }
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === "aud") {
      const got = payload.aud === undefined ? "none" : JSON.stringify(payload.aud);
      return unauthenticated(`the token is for audience ${got}, expected ${provider.audience.map((a) => JSON.stringify(a)).join(" or ")} (issuer ${issuer})`, e);
    }
    if (e.claim === "iss") return unauthenticated(`the token's issuer ${JSON.stringify(payload.iss)} is not ${issuer}`, e);
    if (e.claim === "nbf") return unauthenticated(`the token is not valid before ${typeof payload.nbf === "number" ? describeWhen(payload.nbf * 1000) : "?"} (now ${describeWhen(now)}; issuer ${issuer})`, e);
    return unauthenticated(`the token's "${e.claim}" claim is ${e.reason === "missing" ? "missing" : "invalid"} (issuer ${issuer}): ${e.message}`, e);
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return unauthenticated(`the token's signature does not verify with key ${JSON.stringify(header.kid)} of ${issuer}`, e);
  if (e instanceof joseErrors.JWKSNoMatchingKey) {
    const key = `unknown signing key: ${issuer} has no key ${JSON.stringify(header.kid)} for ${header.alg}`;
    if (keys.refetched) return unauthenticated(`${key} (after refreshing its key set); the key was rotated out or the token is forged`, e);
    // Within the cooldown after a fetch an unknown kid is not looked up again (a flood of made-up kids costs one fetch).
    const every = `${Math.round(keys.cooldownMs / 1000)} s`;
    return unauthenticated(
      `${key} in the key set fetched less than ${every} ago, which is fetched again for an unknown key at most every ${every} (a key the provider has just added is found then); otherwise the key was rotated out or the token is forged`,
      e,
    );
  }
  if (e instanceof joseErrors.JWKSMultipleMatchingKeys) return unauthenticated(`the token names no key (kid) and ${issuer} has several that fit`, e);
  if (e instanceof joseErrors.JWKSTimeout) return new HsuError("unavailable", `the key set of ${issuer} did not arrive in time`, {}, { cause: e });
  if (e instanceof joseErrors.JWKSInvalid || (e instanceof joseErrors.JOSEError && e.code === "ERR_JOSE_GENERIC")) {
    return new HsuError("unavailable", `cannot fetch the key set of ${issuer}: ${(e as Error).message}`, {}, { cause: e });
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return unauthenticated(`the token is signed with ${header.alg}, which ${issuer} is not trusted for (accepted: ${provider.algorithms.join(", ")})`, e);
  if (e instanceof joseErrors.JOSEError) return unauthenticated(`the token is not valid (issuer ${issuer}): ${e.message}`, e);
  // Anything else came from fetching the key set (the provider down, a refused connection).
  return new HsuError("unavailable", `cannot fetch the key set of ${issuer} to check the token: ${(e as Error).message ?? String(e)}`, {}, { cause: e });
}

/**
 * A verifier for JWTs (OIDC access or ID tokens) from the configured
 * providers: discovery (lazily, on a provider's first token, or at
 * {@link OidcVerifier.discover}), keys from its JWKS through jose (an
 * unknown `kid` refetches the set, at most once per cooldown, which is how a
 * rotation is picked up), issuer, audience, exp/nbf with clock tolerance,
 * an asymmetric-only algorithm allowlist, then the claims mapped to a
 * Principal. Verified tokens are cached until they expire (bounded, oldest
 * dropped first); a cached token is checked again after its provider's key
 * set changed, so a key rotated out takes its tokens with it.
 */
export function createOidcVerifier(options: OidcVerifierOptions): OidcVerifier {
  const timeoutMs = options.fetchTimeoutMs ?? 5000;
  const cooldownMs = options.jwksCooldownMs ?? 30_000;
  const cacheSize = options.cacheSize ?? 1000;
  const now = options.now ?? Date.now;
  const providers = new Map<string, ProviderState>();
  for (const config of options.providers) providers.set(config.issuer, { config, generation: 0 });
  const cache = new Map<string, Cached>();

  const keySet = (p: ProviderState): Promise<RemoteJWKSet> => {
    if (p.jwks) return p.jwks;
    const pending = (async () => {
      const uri = p.config.jwksUri ?? (await discoverJwksUri(p.config.issuer, timeoutMs));
      return createRemoteJWKSet(new URL(uri), {
        timeoutDuration: timeoutMs,
        cooldownDuration: cooldownMs,
        [customFetch]: async (url, init) => {
          const res = await fetch(url, init);
          if (res.ok) {
            p.generation++;
            await options.onKeySet?.();
          }
          return res;
        },
      });
    })();
    p.jwks = pending;
    // A failed discovery is not remembered: the next token tries again (the provider may have been down).
    pending.catch(() => {
      if (p.jwks === pending) p.jwks = undefined;
    });
    return pending;
  };

  const remember = (jwt: string, entry: Cached) => {
    if (cache.size >= cacheSize) {
      const t = now();
      for (const [k, v] of cache) if (v.expiresAt <= t) cache.delete(k);
      // Still full: drop the oldest (Map keeps insertion order).
      while (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
    }
    cache.set(jwt, entry);
  };

  const verify = async (jwt: string): Promise<Principal> => {
    const hit = cache.get(jwt);
    if (hit) {
      if (hit.expiresAt > now() && hit.generation === hit.provider.generation) return hit.principal;
      cache.delete(jwt);
    }
    if (typeof jwt !== "string" || jwt.length > MAX_JWT_BYTES || !JWT_SHAPE.test(jwt)) {
      const tooLong = typeof jwt === "string" && jwt.length > MAX_JWT_BYTES;
      throw unauthenticated(`the bearer credential is not a JWT (expected three base64url parts${tooLong ? `, at most ${MAX_JWT_BYTES} bytes` : ""})`);
    }
    let header: ProtectedHeaderParameters;
    let payload: JWTPayload;
    try {
      header = decodeProtectedHeader(jwt);
      payload = decodeJwt(jwt);
    } catch (e) {
      throw unauthenticated(`the bearer credential is not a well-formed JWT: ${(e as Error).message}`, e);
    }
    if (header.alg === undefined || header.alg.toLowerCase() === "none") throw unauthenticated(`the token is unsigned (alg ${JSON.stringify(header.alg ?? null)}); only signed tokens are accepted`);
    const p = typeof payload.iss === "string" ? providers.get(payload.iss) : undefined;
    if (!p) {
      const known = [...providers.keys()];
      throw unauthenticated(
        `the token's issuer ${payload.iss === undefined ? "(none)" : JSON.stringify(payload.iss)} is not trusted; master.auth.oidc trusts ${known.length ? known.join(", ") : "no issuer"}`,
      );
    }
    const config = p.config;
    if (!(config.algorithms as readonly string[]).includes(header.alg)) {
      const why = (OIDC_ALGORITHMS as readonly string[]).includes(header.alg) ? "not in this provider's algorithms" : "not an accepted signature algorithm (asymmetric only: no HS*, no none)";
      throw unauthenticated(`the token is signed with ${header.alg}, ${why} (issuer ${config.issuer}; accepted: ${config.algorithms.join(", ")})`);
    }
    const t = now();
    const before = p.generation;
    let generation: number;
    let verified: JWTPayload;
    try {
      const jwks = await keySet(p);
      generation = p.generation;
      verified = (
        await jwtVerify(jwt, jwks, {
          issuer: config.issuer,
          audience: [...config.audience],
          algorithms: [...config.algorithms],
          clockTolerance: Math.round(config.clockToleranceMs / 1000),
          currentDate: new Date(t),
          requiredClaims: ["exp", "sub"],
        })
      ).payload;
      // A fetch while this token was checked may have brought the key set it verified against.
      generation = Math.max(generation, p.generation);
    } catch (e) {
      throw explain(e, payload, header, config, t, { refetched: p.generation !== before, cooldownMs });
    }
    const principal = principalFromClaims(verified, config);
    remember(jwt, { principal, expiresAt: (verified.exp ?? 0) * 1000, provider: p, generation });
    return principal;
  };

  return {
    verify,
    async discover() {
      await Promise.all(
        [...providers.values()].map(async (p) => {
          try {
            await (await keySet(p)).reload();
          } catch (e) {
            throw HsuError.is(e) ? e : new HsuError("unavailable", `cannot fetch the key set of ${p.config.issuer}: ${(e as Error).message}`, {}, { cause: e });
          }
        }),
      );
    },
  };
}
