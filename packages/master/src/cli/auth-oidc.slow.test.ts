/// <reference path="../test-support/oidc-provider-types.d.ts" />
// OIDC on the TCP control port, end to end: a real identity provider (oidc-provider on 127.0.0.1)
// issuing JWT access tokens by client_credentials, a real master (`hsu up -d`) trusting it in
// master.auth.oidc, and the real `hsu` CLI over TCP with each JWT as its bearer (HSU_CONTROL_TOKEN).
// Refusals are checked three ways: the exit code, the message the CLI prints, and the audit log.
import { decodeJwt, generateKeyPair, importJWK, SignJWT, type JWTPayload } from "jose";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEntry } from "../auth/audit.ts";
import { createProjects, hsu, hsuWith } from "../test-support/hsu-cli.ts";
import { startTestProvider, type TestClients, type TestProvider } from "../test-support/oidc-provider.ts";

const projects = createProjects("hsu-auth-oidc-");
const clients: TestClients = {
  dash: { roles: ["viewer"] },
  deploy: { roles: "ops" },
  root: { roles: ["hsu-admins", "unrelated"] },
  nobody: { roles: ["marketing"] },
};
let idp: TestProvider;
let dir: string;
let tcp: string;

const spec = (issuer: string) => `master:
  control:
    tcp: 127.0.0.1:0
  auth:
    oidc:
      - issuer: ${issuer}
        audience: hsu
        roles_claim: roles
        role_map: { hsu-admins: admin, ops: operator }
        clock_tolerance: 1s
units:
  worker:
    command: sleep
    args: ["1000"]
`;

/** `hsu ...args` against the TCP port with `jwt` as the bearer. */
const remote = (jwt: string | undefined, ...args: string[]) =>
  hsuWith({ cwd: dir, env: { HSU_CONTROL_TOKEN: jwt }, timeoutMs: 60_000 }, ...args, "--socket", tcp);
const audit = (): AuditEntry[] =>
  readFileSync(join(dir, ".hsu", "audit.log"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEntry);
/** The claims of a real token of `client`, to sign again with changes. */
const claimsOf = async (client: string): Promise<JWTPayload> => decodeJwt(await idp.token(client));
const signWith = (claims: JWTPayload, key: Parameters<SignJWT["sign"]>[0]) => new SignJWT({ ...claims }).setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid: idp.kid }).sign(key);

/** Asserts `r` is a refusal: exit 1, the message on stderr, and the audit log's last entry for `method` saying the same. */
function expectRefused(r: { code: number; stdout: string; stderr: string }, method: string, code: string, reason: string, who: Partial<AuditEntry["who"]>): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stderr).toContain(reason);
  const last = audit().filter((e) => e.method === `hsu.master.v1.ControlService/${method}`).at(-1);
  expect(last).toMatchObject({ who, from: expect.stringMatching(/^127\.0\.0\.1:\d+$/), result: "denied", code, reason: expect.stringContaining(reason) });
}

beforeAll(async () => {
  idp = await startTestProvider({ kid: "k-oidc", clients, audiences: { "urn:hsu": "hsu", "urn:other": "other-api" } });
  dir = projects.make(spec(idp.issuer));
  const up = await hsu(dir, "up", "--detach");
  expect(up.code, up.stderr).toBe(0);
  tcp = readFileSync(join(dir, ".hsu", "control-tcp.addr"), "utf8").trim();
}, 90_000);
afterAll(async () => {
  if (dir) await hsu(dir, "down");
  projects.removeAll();
  await idp?.close();
}, 60_000);

describe("a JWT of master.auth.oidc as the CLI's bearer over TCP", () => {
  it("a viewer JWT can ps, but restart is refused naming the role it needs", async () => {
    const jwt = await idp.token("dash");
    const subject = `${idp.issuer}|dash`;
    const ps = await remote(jwt, "ps");
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/^worker +managed +running/m);
    const json = await remote(jwt, "ps", "--json");
    expect(JSON.parse(json.stdout)).toMatchObject([{ id: "worker" }]);
    const restart = await remote(jwt, "restart", "worker");
    expectRefused(restart, "RestartUnit", "permission_denied", `OIDC subject ${subject} has role viewer; RestartUnit needs operator`, { kind: "oidc", subject });
    // The hint fits a JWT: roles come from the identity provider, not from `hsu token create`.
    expect(restart.stderr).toContain("master.auth.oidc role_map");
    expect(restart.stderr).not.toContain("create a token with");
    expect(audit().at(-1)).toMatchObject({ units: ["worker"] });
  });

  it("an operator JWT (ops mapped by role_map) can restart, audited as ok, but cannot apply", async () => {
    const jwt = await idp.token("deploy");
    const subject = `${idp.issuer}|deploy`;
    const before = (await remote(jwt, "ps", "--json")).stdout;
    const restart = await remote(jwt, "restart", "worker");
    expect(restart.code, restart.stderr).toBe(0);
    expect(audit().at(-1)).toMatchObject({ who: { kind: "oidc", subject }, method: "hsu.master.v1.ControlService/RestartUnit", units: ["worker"], result: "ok", code: "ok" });
    const restarts = (out: string) => (JSON.parse(out) as Array<{ id: string; restarts: number }>).find((u) => u.id === "worker")!.restarts;
    expect(restarts((await remote(jwt, "ps", "--json")).stdout)).toBeGreaterThan(restarts(before));
    const apply = await remote(jwt, "apply");
    expectRefused(apply, "Apply", "permission_denied", `OIDC subject ${subject} has role operator; Apply needs admin`, { kind: "oidc", subject });
  });

  it("an admin JWT can apply", async () => {
    const jwt = await idp.token("root");
    const apply = await remote(jwt, "apply");
    expect(apply.code, apply.stderr).toBe(0);
    expect(apply.stdout).toContain("nothing to do");
    expect(audit().at(-1)).toMatchObject({ who: { kind: "oidc", subject: `${idp.issuer}|root` }, method: "hsu.master.v1.ControlService/Apply", result: "ok" });
  });

  it("a genuine JWT whose roles map to no role is PERMISSION_DENIED, naming what it had", async () => {
    const r = await remote(await idp.token("nobody"), "ps");
    expectRefused(r, "ListUnits", "permission_denied", `no role mapped for ${idp.issuer}|nobody: it has "marketing"; map one in master.auth.oidc role_map`, { kind: "anonymous" });
  });
});

describe("a JWT the master must refuse", () => {
  it("an expired JWT (the provider's own key, exp in the past): exit 1, UNAUTHENTICATED saying when, audited", async () => {
    const exp = Math.floor(Date.now() / 1000) - 120;
    const jwt = await signWith({ ...(await claimsOf("root")), iat: exp - 300, exp }, await importJWK(idp.privateJwk, "RS256"));
    const r = await remote(jwt, "ps");
    expectRefused(r, "ListUnits", "unauthenticated", `the token expired at ${new Date(exp * 1000).toISOString()}`, { kind: "anonymous" });
    expect(r.stderr).toContain("the JWT was not accepted");
  });

  it("a JWT for another audience: exit 1, saying expected and got, audited", async () => {
    const r = await remote(await idp.token("root", "urn:other"), "restart", "worker");
    expectRefused(r, "RestartUnit", "unauthenticated", 'the token is for audience "other-api", expected "hsu"', { kind: "anonymous" });
  });

  it("a JWT with a bad signature (another key under the provider's kid): exit 1, audited; the same claims properly signed pass", async () => {
    const claims = await claimsOf("root");
    const { privateKey } = await generateKeyPair("RS256");
    const r = await remote(await signWith(claims, privateKey), "apply");
    expectRefused(r, "Apply", "unauthenticated", `signature does not verify with key "${idp.kid}"`, { kind: "anonymous" });
    // Only the signature was wrong: the provider's key over the same claims is admin.
    const genuine = await remote(await signWith(claims, await importJWK(idp.privateJwk, "RS256")), "apply");
    expect(genuine.code, genuine.stderr).toBe(0);
  });

  it("a JWT with its payload edited after signing (viewer made admin) is refused", async () => {
    const [h, p, s] = (await idp.token("dash")).split(".");
    const payload = JSON.parse(Buffer.from(p!, "base64url").toString()) as JWTPayload;
    const forged = [h, Buffer.from(JSON.stringify({ ...payload, roles: ["hsu-admins"] })).toString("base64url"), s].join(".");
    const r = await remote(forged, "apply");
    expectRefused(r, "Apply", "unauthenticated", "signature does not verify", { kind: "anonymous" });
  });

  it("no bearer at all over TCP: exit 1 naming a JWT among what to send, and HSU_CONTROL_TOKEN as where", async () => {
    const r = await remote(undefined, "restart", "worker");
    expectRefused(r, "RestartUnit", "unauthenticated", "needs `authorization: Bearer <token>` (an API token from `hsu token create`, a JWT of master.auth.oidc, or the control token)", { kind: "anonymous" });
    expect(r.stderr).toContain("the CLI sends it from HSU_CONTROL_TOKEN, which is not set");
  });

  it("a JWT with surrounding whitespace or a Bearer prefix pasted into HSU_CONTROL_TOKEN still works", async () => {
    const jwt = await idp.token("dash");
    for (const pasted of [`${jwt}\n`, `  ${jwt}  `, `Bearer ${jwt}`]) {
      const r = await remote(pasted, "ps");
      expect(r.code, `${JSON.stringify(pasted.slice(0, 10))}: ${r.stderr}`).toBe(0);
    }
  });

  it("two JWTs pasted on two lines into HSU_CONTROL_TOKEN: refused by the CLI before any call, naming the variable", async () => {
    const jwt = await idp.token("root");
    const before = audit().length;
    const r = await remote(`${jwt}\n${jwt}`, "apply");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`hsu apply: HSU_CONTROL_TOKEN has whitespace at character ${jwt.length + 1}`);
    expect(audit().length).toBe(before);
  });

  it("hsu audit shows each refusal; the chain verifies", async () => {
    const shown = await hsu(dir, "audit", "--json");
    expect(shown.code, shown.stderr).toBe(0);
    const entries = shown.stdout.trim().split("\n").map((l) => JSON.parse(l) as AuditEntry);
    for (const why of ["the token expired at", 'audience "other-api"', "signature does not verify", "has role viewer; RestartUnit needs operator", "has role operator; Apply needs admin"]) {
      expect(entries.some((e) => e.result === "denied" && e.reason?.includes(why)), why).toBe(true);
    }
    const verify = await hsu(dir, "audit", "verify", "--json");
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  });
});
