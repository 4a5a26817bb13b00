import { base64url, decodeJwt, generateKeyPair, importJWK, SignJWT } from "jose";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestProvider, type TestClients, type TestProvider } from "../test-support/oidc-provider.ts";
import { createOidcVerifier, OIDC_ALGORITHMS, type OidcProviderConfig } from "./oidc.ts";

const clients: TestClients = {
  admin: { roles: ["hsu-admins"] },
  ops: { roles: "ops" },
  viewer: { roles: ["viewer", "unrelated"] },
  nobody: { roles: ["marketing"] },
  norole: {},
};

function config(issuer: string, extra: Partial<OidcProviderConfig> = {}): OidcProviderConfig {
  return {
    issuer,
    audience: ["hsu"],
    rolesClaim: "roles",
    roleMap: { "hsu-admins": "admin", ops: "operator" },
    unitsClaim: undefined,
    jwksUri: undefined,
    clockToleranceMs: 30_000,
    algorithms: OIDC_ALGORITHMS,
    ...extra,
  };
}

let idp: TestProvider;
let other: TestProvider;

beforeAll(async () => {
  idp = await startTestProvider({ kid: "key-1", clients, audiences: { "urn:hsu": "hsu", "urn:other": "other-api" } });
  other = await startTestProvider({ kid: "key-1", clients });
});
afterAll(async () => {
  await idp?.close();
  await other?.close();
});

describe("createOidcVerifier against oidc-provider", () => {
  it("passes a valid client_credentials token and maps its roles through role_map and by role name", async () => {
    const v = createOidcVerifier({ providers: [config(idp.issuer)] });
    const admin = await v.verify(await idp.token("admin"));
    expect(admin).toMatchObject({ kind: "oidc", subject: `${idp.issuer}|admin`, roles: ["admin"], units: [], methods: [] });
    expect(admin.expiresAt).toBeGreaterThan(Date.now());
    expect((await v.verify(await idp.token("ops"))).roles).toEqual(["operator"]);
    expect((await v.verify(await idp.token("viewer"))).roles).toEqual(["viewer"]);
  });

  it("refuses a token that maps to no role, naming what it had", async () => {
    const v = createOidcVerifier({ providers: [config(idp.issuer)] });
    await expect(v.verify(await idp.token("nobody"))).rejects.toMatchObject({ code: "permission_denied", message: expect.stringMatching(/no role mapped .*"marketing"/) });
    await expect(v.verify(await idp.token("norole"))).rejects.toMatchObject({ code: "permission_denied", message: expect.stringContaining('no "roles" claim') });
  });

  it("refuses an expired token, saying when it expired", async () => {
    const token = await idp.token("admin");
    const exp = decodeJwt(token).exp! * 1000;
    // The verifier's clock an hour on: the token (5 minutes) is long expired.
    const v = createOidcVerifier({ providers: [config(idp.issuer)], now: () => Date.now() + 3_600_000 });
    await expect(v.verify(token)).rejects.toMatchObject({ code: "unauthenticated", message: expect.stringContaining(`the token expired at ${new Date(exp).toISOString()}`) });
  });

  it("stops answering from its cache once a cached token expires", async () => {
    let offset = 0;
    const v = createOidcVerifier({ providers: [config(idp.issuer)], now: () => Date.now() + offset });
    const token = await idp.token("admin");
    await v.verify(token);
    offset = 3_600_000;
    await expect(v.verify(token)).rejects.toMatchObject({ code: "unauthenticated", message: expect.stringContaining("expired") });
  });

  it("refuses a token for another audience, saying expected and got", async () => {
    const v = createOidcVerifier({ providers: [config(idp.issuer)] });
    await expect(v.verify(await idp.token("admin", "urn:other"))).rejects.toMatchObject({
      code: "unauthenticated",
      message: expect.stringContaining('the token is for audience "other-api", expected "hsu"'),
    });
  });

  it("refuses a token from an issuer it does not trust, naming the ones it does", async () => {
    const v = createOidcVerifier({ providers: [config(idp.issuer)] });
    await expect(v.verify(await other.token("admin"))).rejects.toMatchObject({
      code: "unauthenticated",
      message: expect.stringContaining(`issuer "${other.issuer}" is not trusted; master.auth.oidc trusts ${idp.issuer}`),
    });
  });

  it("refuses a token signed by another key under the provider's kid", async () => {
    const v = createOidcVerifier({ providers: [config(idp.issuer)] });
    const real = decodeJwt(await idp.token("admin"));
    const { privateKey } = await generateKeyPair("RS256");
    const forged = await new SignJWT({ ...real }).setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid: idp.kid }).sign(privateKey);
    await expect(v.verify(forged)).rejects.toMatchObject({ code: "unauthenticated", message: expect.stringContaining(`signature does not verify with key "${idp.kid}"`) });
    // The same claims signed by the provider's own key pass: only the signature was wrong.
    const genuine = await new SignJWT({ ...real }).setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid: idp.kid }).sign(await importJWK(idp.privateJwk, "RS256"));
    expect((await v.verify(genuine)).roles).toEqual(["admin"]);
  });

  it("refuses alg none, an HS256 token keyed with the public key, and malformed tokens", async () => {
    const v = createOidcVerifier({ providers: [config(idp.issuer)] });
    const real = decodeJwt(await idp.token("admin"));
    const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
    const none = `${enc({ alg: "none", typ: "JWT" })}.${enc(real)}.`;
    await expect(v.verify(none)).rejects.toMatchObject({ code: "unauthenticated", message: expect.stringContaining("unsigned (alg \"none\")") });
    const { kty, n, e } = idp.privateJwk;
    const publicPem = new TextEncoder().encode(JSON.stringify({ kty, n, e }));
    const hs = await new SignJWT({ ...real }).setProtectedHeader({ alg: "HS256", kid: idp.kid }).sign(publicPem);
    await expect(v.verify(hs)).rejects.toMatchObject({ code: "unauthenticated", message: expect.stringContaining("HS256, not an accepted signature algorithm") });
    for (const bad of ["", "not-a-jwt", "a.b", "a.b.c.d", `${enc({ alg: "RS256" })}.%%%.sig`, `${base64url.encode("{")}.${enc(real)}.sig`, "x".repeat(20_000)]) {
      await expect(v.verify(bad), bad.slice(0, 40)).rejects.toMatchObject({ code: "unauthenticated", message: expect.stringMatching(/not a (well-formed )?JWT/) });
    }
  });

  it("reads units from units_claim and refuses a scoped provider's token without it", async () => {
    const scoped = await startTestProvider({ kid: "s", clients: { worker: { roles: ["caller"], units: ["echo", "worker-*"] }, all: { roles: ["admin"], units: ["*"] }, bare: { roles: ["admin"] } } });
    try {
      const v = createOidcVerifier({ providers: [config(scoped.issuer, { unitsClaim: "hsu_units" })] });
      expect(await v.verify(await scoped.token("worker"))).toMatchObject({ roles: ["caller"], units: ["echo", "worker-*"] });
      expect((await v.verify(await scoped.token("all"))).units).toEqual([]);
      await expect(v.verify(await scoped.token("bare"))).rejects.toMatchObject({ code: "permission_denied", message: expect.stringContaining('"hsu_units" claim is missing') });
    } finally {
      await scoped.close();
    }
  });
});

describe("key rotation", () => {
  it("after the provider restarts with a new key, old tokens fail as an unknown key and new ones pass after the JWKS refetch", async () => {
    const first = await startTestProvider({ kid: "old", clients });
    const port = first.port;
    const v = createOidcVerifier({ providers: [config(first.issuer)], jwksCooldownMs: 0 });
    const oldToken = await first.token("admin");
    expect((await v.verify(oldToken)).roles).toEqual(["admin"]);
    await first.close();
    const second = await startTestProvider({ port, kid: "new", clients });
    try {
      const newToken = await second.token("admin");
      expect((await v.verify(newToken)).roles).toEqual(["admin"]);
      // The old token was verified (and cached) before; the refetched key set no longer has its key.
      await expect(v.verify(oldToken)).rejects.toMatchObject({ code: "unauthenticated", message: expect.stringContaining(`has no key "old"`) });
    } finally {
      await second.close();
    }
  });
});

describe("a key the verifier has not seen yet", () => {
  it("within the JWKS cooldown, says the key set was fetched recently (not that it was refreshed), and finds the key once the cooldown has passed", async () => {
    const p = await startTestProvider({ kid: "one", clients });
    try {
      const v = createOidcVerifier({ providers: [config(p.issuer)], jwksCooldownMs: 1000 });
      await v.discover();
      await p.rotate("two");
      const fresh = await p.token("admin");
      await expect(v.verify(fresh)).rejects.toMatchObject({
        code: "unauthenticated",
        message: expect.stringMatching(/has no key "two" for RS256 in the key set fetched less than 1 s ago, which is fetched again for an unknown key at most every 1 s/),
      });
      // Real time passes (the 1 s cooldown), bounded: then the unknown kid refetches the set, which has it.
      await new Promise((r) => setTimeout(r, 1100));
      expect((await v.verify(fresh)).roles).toEqual(["admin"]);
    } finally {
      await p.close();
    }
  });
});

describe("discovery", () => {
  it("fails with the issuer named when nothing listens there, and tries again on the next token", async () => {
    const dead = await startTestProvider({ kid: "d", clients });
    const token = await dead.token("admin");
    const port = dead.port;
    await dead.close();
    const v = createOidcVerifier({ providers: [config(dead.issuer)] });
    await expect(v.verify(token)).rejects.toMatchObject({ code: "unavailable", message: expect.stringContaining(`OIDC discovery for issuer ${dead.issuer} failed`) });
    await expect(v.discover()).rejects.toMatchObject({ code: "unavailable" });
    const back = await startTestProvider({ port, kid: "d2", clients });
    try {
      expect((await v.verify(await back.token("admin"))).roles).toEqual(["admin"]);
    } finally {
      await back.close();
    }
  });

  it("gives up on a provider that accepts and never answers, within its deadline", async () => {
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const issuer = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const v = createOidcVerifier({ providers: [config(issuer)], fetchTimeoutMs: 300 });
      await expect(v.discover()).rejects.toMatchObject({ code: "unavailable", message: expect.stringContaining(`issuer ${issuer} failed: GET ${issuer}/.well-known/openid-configuration: no answer within 300 ms`) });
    } finally {
      silent.close();
    }
  });

  it("refuses a discovery document that names another issuer", async () => {
    // The idp answers for its own issuer; configured with a trailing-slash variant, the names differ.
    const v = createOidcVerifier({ providers: [config(`${idp.issuer}/`)] });
    await expect(v.discover()).rejects.toMatchObject({ code: "unavailable", message: expect.stringContaining(`names issuer "${idp.issuer}"`) });
  });

  it("says the key set is unavailable (not that the token is bad) when the JWKS cannot be fetched", async () => {
    const v = createOidcVerifier({ providers: [config(idp.issuer, { jwksUri: "http://127.0.0.1:1/jwks" })] });
    await expect(v.verify(await idp.token("admin"))).rejects.toMatchObject({ code: "unavailable", message: expect.stringContaining(`cannot fetch the key set of ${idp.issuer}`) });
  });

  it("uses jwks_uri when given, without discovery", async () => {
    const v = createOidcVerifier({ providers: [config(idp.issuer, { jwksUri: `${idp.issuer}/jwks` })] });
    expect((await v.verify(await idp.token("admin"))).roles).toEqual(["admin"]);
  });
});
