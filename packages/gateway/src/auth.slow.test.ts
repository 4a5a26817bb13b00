/// <reference path="../../master/src/test-support/oidc-provider-types.d.ts" />
import { execFile } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./test-support/free-port.ts";
import { createProjects, hsu, until } from "../../master/src/test-support/hsu-cli.ts";
import { startTestProvider, type TestProvider } from "../../master/src/test-support/oidc-provider.ts";

// Auth end to end: a real master trusting real OIDC providers (oidc-provider on
// 127.0.0.1), a gateway route with `auth: required` to the TS echo unit. Every
// refusal is checked as a client sees it (HTTP status and body, REST and
// Connect) and as the master's audit log records it.
const root = join(import.meta.dirname, "..", "..", "..");
const echoUnit = join(root, "examples", "echo", "src", "unit.ts");
const gatewayMain = join(import.meta.dirname, "main.ts");
const projects = createProjects("hsu-gw-auth-");
const sh = promisify(execFile);
const ECHO = "hsu.examples.echo.v1.EchoService/Echo";
// `brief`'s tokens live 2 s; the main provider's clock tolerance is 1 s, so one is refused about 3 s after it was issued.
const clients = { app: { roles: ["caller"] }, nobody: { roles: ["marketing"] }, brief: { roles: ["caller"], ttl: 2 } };
const TOLERANCE_S = 1;
let dir: string;
let base: string;
/** The main provider. */
let idp: TestProvider;
/** A provider the master does not trust. */
let other: TestProvider;
/** A provider whose key the tests rotate. */
let rot: TestProvider;
/** A provider whose tokens carry a units claim (`units_claim: hsu_units`). */
let scoped: TestProvider;
/** A provider that is down when the master starts (`late` is the one started later on its port), and a token it issued before. */
let lateIssuer: string;
let lateToken: string;
let late: TestProvider | undefined;

type Protocol = "rest" | "connect";
interface Answer {
  status: number;
  /** REST: grpc-gateway's status JSON (`code` a number); Connect: its error JSON (`code` a name); or the echo. */
  body: { code?: string | number; message?: string };
  headers: Headers;
}

/** One Echo call through the gateway with `token` as the bearer: REST (POST /v1/echo) or Connect (JSON). */
async function call(protocol: Protocol, token: string, message = "a"): Promise<Answer> {
  const url = protocol === "rest" ? `${base}/v1/echo` : `${base}/${ECHO}`;
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ message }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let body: Answer["body"] = { message: text };
  try {
    body = JSON.parse(text) as Answer["body"];
  } catch {
    // A refusal before routing (431 on oversized headers) may have no JSON body.
  }
  return { status: res.status, body, headers: res.headers };
}

const echo = (token: string) => call("rest", token);

/** `hsu token create ... --json`: the token, its id and expiry (ISO time). */
async function createToken(name: string, ...flags: string[]): Promise<{ token: string; id: string; expires?: string }> {
  const r = await hsu(dir, "token", "create", "--name", name, "--json", ...flags);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return JSON.parse(r.stdout) as { token: string; id: string; expires?: string };
}

async function revoke(id: string): Promise<void> {
  const r = await hsu(dir, "token", "revoke", id);
  expect(r.code, r.stderr + r.stdout).toBe(0);
}

interface AuditLine {
  seq: number;
  who: { kind: string; subject: string };
  method: string;
  units: string[];
  from: string;
  via?: string;
  result: string;
  code: string;
  reason?: string;
}

const auditFile = () => join(dir, ".hsu", "audit.log");

/** Where the audit log ends now: entries written after this are the ones a test caused. */
function auditMark(): number {
  try {
    return statSync(auditFile()).size;
  } catch {
    return 0;
  }
}

/**
 * The entry the master wrote, since `mark`, for a refused Echo call through the gateway with
 * this code and a reason matching `reason`. The master writes it before it answers, so it is
 * there when the client has its answer: no waiting.
 */
function audited(mark: number, code: "unauthenticated" | "permission_denied" | "unavailable", reason: RegExp): AuditLine {
  const lines = readFileSync(auditFile()).subarray(mark).toString("utf8").split("\n").filter(Boolean);
  const entries = lines.map((l) => JSON.parse(l) as AuditLine);
  const hit = entries.find((e) => e.code === code && reason.test(e.reason ?? ""));
  expect(hit, `no ${code} entry matching ${reason} among:\n${lines.join("\n")}`).toBeDefined();
  expect(hit).toMatchObject({ method: ECHO, units: ["echo"], from: "unix", result: "denied" });
  expect(hit!.via).toMatch(/^gateway 127\.0\.0\.1/);
  return hit!;
}

/** A refusal as the client sees it: the status, the protocol's code, a message matching `message`. */
function expectRefused(a: Answer, protocol: Protocol, status: 401 | 403, message: RegExp): void {
  expect(a.status, JSON.stringify(a.body)).toBe(status);
  expect(a.body.code).toBe(protocol === "rest" ? (status === 401 ? 16 : 7) : status === 401 ? "unauthenticated" : "permission_denied");
  expect(a.body.message).toMatch(message);
  if (protocol === "rest" && status === 401) expect(a.headers.get("www-authenticate")).toMatch(/^Bearer /);
}

beforeAll(async () => {
  idp = await startTestProvider({ kid: "k1", clients, audiences: { "urn:hsu": "hsu", "urn:other": "other-api" } });
  other = await startTestProvider({ kid: "k1", clients });
  rot = await startTestProvider({ kid: "a", clients: { app: { roles: ["caller"] } } });
  scoped = await startTestProvider({
    kid: "s1",
    clients: { echoer: { roles: ["caller"], units: ["echo"] }, elsewhere: { roles: ["caller"], units: ["other-*"] }, unscoped: { roles: ["caller"] } },
  });
  const gone = await startTestProvider({ kid: "late", clients: { app: { roles: ["caller"] } } });
  lateIssuer = gone.issuer;
  lateToken = await gone.token("app");
  await gone.close();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  dir = projects.make("units: {}\n");
  await sh("npx", ["buf", "build", join(root, "examples", "echo", "proto"), "-o", join(dir, "echo.binpb")], { cwd: root });
  writeFileSync(
    join(dir, "hsu.yaml"),
    `master:
  auth:
    oidc:
      - issuer: ${idp.issuer}
        audience: hsu
        roles_claim: roles
        clock_tolerance: ${TOLERANCE_S}s
      - issuer: ${rot.issuer}
        audience: hsu
      - issuer: ${scoped.issuer}
        audience: hsu
        units_claim: hsu_units
      - issuer: ${lateIssuer}
        audience: hsu
units:
  echo:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${echoUnit}"]
  gateway:
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${gatewayMain}"]
    gateway:
      listen: 127.0.0.1:${port}
      routes:
        - unit: echo
          descriptors: echo.binpb
          auth: required
`,
  );
  const up = await hsu(dir, "up", "--detach");
  expect(up.code, up.stderr + up.stdout).toBe(0);
  await until("the gateway answers /healthz", async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true);
});

afterAll(async () => {
  if (dir) await hsu(dir, "down");
  projects.removeAll();
  await Promise.all([idp?.close(), other?.close(), rot?.close(), scoped?.close(), late?.close()]);
});

describe("OIDC bearer tokens through the gateway (REST POST /v1/echo)", () => {
  it("a caller token passes; wrong audience, wrong issuer are 401 and a token with no mapped role 403, each with its reason and audited", async () => {
    const ok = await echo(await idp.token("app"));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const aud = await echo(await idp.token("app", "urn:other"));
    expect(aud.status).toBe(401);
    expect(aud.body.message).toMatch(/audience "other-api", expected "hsu"/);
    const iss = await echo(await other.token("app"));
    expect(iss.status).toBe(401);
    expect(iss.body.message).toMatch(/is not trusted/);
    const norole = await echo(await idp.token("nobody"));
    expect(norole.status, JSON.stringify(norole.body)).toBe(403);
    expect(norole.body.message).toMatch(/no role mapped/);
    const audit = await hsu(dir, "audit", "--json");
    expect(audit.stdout).toMatch(/other-api|not trusted|no role mapped/);
    const verify = await hsu(dir, "audit", "verify");
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
  });
});

describe("forged, revoked and hostile bearers", () => {
  it("bad signature, alg none, 20 KiB garbage: 401; a revoked API token: 200 then 401; 2,000 bad tokens leave a good caller served", async () => {
    const good = await idp.token("app");
    const [h, p, sig] = good.split(".") as [string, string, string];
    const flipped = `${h}.${p}.${sig.slice(0, 10)}${sig[10] === "A" ? "B" : "A"}${sig.slice(11)}`;
    const bad = await echo(flipped);
    expect(bad.status, JSON.stringify(bad.body)).toBe(401);
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${p}.`;
    const n = await echo(none);
    expect(n.status, JSON.stringify(n.body)).toBe(401);
    expect(n.body.message).toMatch(/none/);
    const junk = await echo("x".repeat(20 * 1024));
    expect([401, 431]).toContain(junk.status);
    const created = await hsu(dir, "token", "create", "--name", "rev", "--role", "caller", "--unit", "echo");
    expect(created.code, created.stderr).toBe(0);
    const api = /hsu_[0-9a-f]+_[A-Za-z0-9_-]+/.exec(created.stdout)![0];
    expect((await echo(api)).status).toBe(200);
    const id = api.split("_")[1]!;
    const rev = await hsu(dir, "token", "revoke", id);
    expect(rev.code, rev.stderr + rev.stdout).toBe(0);
    const after = await echo(api);
    expect(after.status).toBe(401);
    expect(after.body.message).toMatch(/revoked/);
    const auditFile = join(dir, ".hsu", "audit.log");
    const before = statSync(auditFile).size;
    const codes = new Map<number, number>();
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next++ < 2000) {
        const r = await echo(`bad${next}`);
        codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
      }
    }));
    const grown = statSync(auditFile).size - before;
    console.log(`audit log grew by ${grown} bytes (${readFileSync(auditFile, "utf8").split("\n").length} lines) over 2,000 refusals: ${JSON.stringify([...codes])}`);
    expect([...codes.keys()].every((c) => c === 401 || c === 429)).toBe(true);
    expect((await echo(await idp.token("app"))).status).toBe(200);
    const ok = await hsu(dir, "audit", "verify");
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    const lines = readFileSync(auditFile, "utf8").split("\n");
    lines[1] = lines[1]!.replace(/"result":"[a-z]+"/, '"result":"ok"').replace(/denied/, "allowed");
    writeFileSync(auditFile, lines.join("\n"));
    const tampered = await hsu(dir, "audit", "verify");
    expect(tampered.code).toBe(1);
    expect(tampered.stderr + tampered.stdout, tampered.stderr + tampered.stdout).toMatch(/audit\.log:2\b|line 2\b/);
  });
});

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as { exp: number; iat: number; sub: string };
const headerOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[0]!, "base64url").toString("utf8")) as { kid?: string };

describe("no credential", () => {
  it.each(["rest", "connect"] as const)("%s: a call without Authorization is 401 from the gateway, saying to send a bearer token", async (protocol) => {
    const res = await fetch(protocol === "rest" ? `${base}/v1/echo` : `${base}/${ECHO}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"message":"a"}',
      signal: AbortSignal.timeout(20_000),
    });
    const a: Answer = { status: res.status, body: (await res.json()) as Answer["body"], headers: res.headers };
    expectRefused(a, protocol, 401, /needs credentials: send (an )?Authorization(:| header \()? ?Bearer <token>/);
  });
});

describe("an expired JWT", () => {
  it("is served while valid; once its exp (plus the clock tolerance) has passed, the next call is 401 saying it expired, audited, REST and Connect", async () => {
    const token = await idp.token("brief");
    const { exp, iat } = claims(token);
    // The provider issued a 2 s token, so the wait below is a few seconds of real time at most.
    expect(exp - iat).toBe(2);
    const ok = await echo(token);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect((await call("connect", token)).status).toBe(200);
    // Real time passes until the master must refuse it: exp + tolerance, plus a second as jose counts whole seconds.
    await sleep(Math.max(0, (exp + TOLERANCE_S + 1) * 1000 - Date.now()));
    const mark = auditMark();
    const late = await echo(token);
    expectRefused(late, "rest", 401, /the token expired at \S+ \(now \S+; issuer http:\/\/127\.0\.0\.1:\d+\); get a new one/);
    const entry = audited(mark, "unauthenticated", /the token expired at/);
    expect(entry.who.kind).toBe("anonymous");
    expectRefused(await call("connect", token), "connect", 401, /the token expired at/);
    // A fresh token of the same client is served: the refusal was about that token's time, not the client.
    expect((await echo(await idp.token("brief"))).status).toBe(200);
  });
});

describe("an expired API token", () => {
  it("is served while valid; once its --expires has passed, the next call is 401 saying it expired, audited, REST and Connect", async () => {
    const { token, id, expires } = await createToken("short", "--role", "caller", "--unit", "echo", "--expires", "3s");
    expect((await echo(token)).status).toBe(200);
    expect((await call("connect", token)).status).toBe(200);
    // Real time passes until the expiry (3 s after the create, so a bounded wait).
    await sleep(Math.max(0, Date.parse(expires!) + 50 - Date.now()));
    const mark = auditMark();
    expectRefused(await echo(token), "rest", 401, new RegExp(`^token hsu_${id} \\("short"\\) expired at \\S+; create a new one`));
    expect(audited(mark, "unauthenticated", new RegExp(`hsu_${id} .* expired at`)).who.kind).toBe("anonymous");
    expectRefused(await call("connect", token), "connect", 401, /expired at/);
  });
});

describe("signing keys", () => {
  it("a token of a key rotated out of the JWKS is 401 (audited) once the master has refetched it for a new kid, and the new key's token passes", async () => {
    const a = await rot.token("app");
    expect(headerOf(a).kid).toBe("a");
    expect((await echo(a)).status).toBe(200);
    await rot.rotate("b");
    const b = await rot.token("app");
    expect(headerOf(b).kid).toBe("b");
    // An unknown kid makes the master refetch the key set, at most once per cooldown (30 s) after its last fetch:
    // until then a key it has never seen is refused as unknown. Bounded: the cooldown and some margin.
    const deadline = Date.now() + 45_000;
    for (let r = await echo(b); r.status !== 200; r = await echo(b)) {
      // Only within the cooldown: past it, the unknown kid refetches the set, which has "b".
      expectRefused(r, "rest", 401, /unknown signing key: \S+ has no key "b" for RS256 in the key set fetched less than 30 s ago/);
      if (Date.now() > deadline) throw new Error(`a token of the new key "b" is still refused after 45 s: ${r.body.message}`);
      await sleep(250);
    }
    const mark = auditMark();
    const old = await echo(a);
    expectRefused(old, "rest", 401, /unknown signing key: http:\/\/127\.0\.0\.1:\d+ has no key "a"/);
    expect(audited(mark, "unauthenticated", /has no key "a"/).who.kind).toBe("anonymous");
    expectRefused(await call("connect", a), "connect", 401, /has no key "a"/);
    expect((await call("connect", b)).status).toBe(200);
  });

  it("a token signed by another key under the JWKS key's kid is 401, audited; the genuine token passes", async () => {
    const real = await idp.token("app");
    const forged = await idp.forge(real);
    expect(headerOf(forged).kid).toBe(idp.kid);
    const mark = auditMark();
    expectRefused(await echo(forged), "rest", 401, new RegExp(`signature does not verify with key "${idp.kid}" of ${idp.issuer}`));
    expect(audited(mark, "unauthenticated", /signature does not verify/).who.kind).toBe("anonymous");
    expectRefused(await call("connect", forged), "connect", 401, /signature does not verify/);
    expect((await echo(real)).status).toBe(200);
    // The genuine one being cached changes nothing for the forgery (same claims, other signature).
    expect((await echo(forged)).status).toBe(401);
  });
});

describe("an identity provider the master cannot reach", () => {
  it("its JWT is 503 saying the key set cannot be fetched (not 401: the token may be fine), audited; once it answers, its tokens pass", async () => {
    for (const protocol of ["rest", "connect"] as const) {
      const mark = auditMark();
      const r = await call(protocol, lateToken);
      expect(r.status, JSON.stringify(r.body)).toBe(503);
      expect(r.body.code).toBe(protocol === "rest" ? 14 : "unavailable");
      expect(r.body.message).toMatch(new RegExp(`^the JWT cannot be checked now: OIDC discovery for issuer ${lateIssuer} failed: GET ${lateIssuer}/\\.well-known/openid-configuration`));
      const entry = audited(mark, "unavailable", /OIDC discovery for issuer/);
      expect(entry.who.kind).toBe("anonymous");
    }
    late = await startTestProvider({ port: Number(new URL(lateIssuer).port), kid: "late", clients: { app: { roles: ["caller"] } } });
    expect((await echo(await late.token("app"))).status).toBe(200);
    // The token from before it came back was signed by the key it had then, under the same kid: a bad signature now.
    expectRefused(await echo(lateToken), "rest", 401, /signature does not verify with key "late"/);
  });
});

describe("scopes", () => {
  it("an API token scoped to another unit is 403 naming its unit scope, audited with the token; one scoped to echo passes", async () => {
    const { token, id } = await createToken("elsewhere", "--role", "caller", "--unit", "other-*");
    const mark = auditMark();
    const r = await echo(token);
    expectRefused(r, "rest", 403, new RegExp(`^token hsu_${id} is scoped to units other-\\*; calling ${ECHO} on unit "echo" names "echo"$`));
    expect(audited(mark, "permission_denied", /scoped to units other-\*/).who).toEqual({ kind: "api-token", subject: id });
    const mine = await createToken("echo-only", "--role", "caller", "--unit", "echo");
    expect((await echo(mine.token)).status).toBe(200);
  });

  it("an API token scoped to another method is 403 naming its method scope, audited with the token; one scoped to Echo's service passes", async () => {
    const { token, id } = await createToken("other-method", "--role", "caller", "--method", "hsu.examples.echo.v1.EchoService/Shout");
    const mark = auditMark();
    const r = await echo(token);
    expectRefused(r, "rest", 403, new RegExp(`^token hsu_${id} is scoped to methods hsu\\.examples\\.echo\\.v1\\.EchoService/Shout; ${ECHO} is not one of them$`));
    expect(audited(mark, "permission_denied", /scoped to methods/).who).toEqual({ kind: "api-token", subject: id });
    const mine = await createToken("echo-service", "--role", "caller", "--method", "hsu.examples.echo.v1.EchoService/*");
    expect((await echo(mine.token)).status).toBe(200);
  });

  it("a JWT whose units claim does not include the unit is 403 naming its scope, and one without the claim 403; one listing the unit passes", async () => {
    expect((await echo(await scoped.token("echoer"))).status).toBe(200);
    let mark = auditMark();
    const r = await echo(await scoped.token("elsewhere"));
    expectRefused(r, "rest", 403, new RegExp(`^OIDC subject ${scoped.issuer}\\|elsewhere is scoped to units other-\\*; calling ${ECHO} on unit "echo" names "echo"$`));
    expect(audited(mark, "permission_denied", /is scoped to units other-\*/).who).toEqual({ kind: "oidc", subject: `${scoped.issuer}|elsewhere` });
    mark = auditMark();
    const bare = await echo(await scoped.token("unscoped"));
    expectRefused(bare, "rest", 403, /has no unit scope: its "hsu_units" claim is missing/);
    audited(mark, "permission_denied", /has no unit scope/);
  });
});

describe("the Connect protocol (POST /hsu.examples.echo.v1.EchoService/Echo, JSON)", () => {
  it("a caller JWT is 200 with the echo", async () => {
    const r = await call("connect", await idp.token("app"), "over connect");
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.message).toBe("over connect");
  });

  it("a forged JWT and an unknown API token are 401 with their reasons, audited", async () => {
    const mark = auditMark();
    expectRefused(await call("connect", await idp.forge(await idp.token("app"))), "connect", 401, /signature does not verify/);
    const made = `hsu_0000dead_${"x".repeat(43)}`;
    expectRefused(await call("connect", made), "connect", 401, /token hsu_0000dead is not valid \(unknown id or wrong secret\)/);
    audited(mark, "unauthenticated", /signature does not verify/);
    audited(mark, "unauthenticated", /hsu_0000dead is not valid/);
  });

  it("an API token scoped to another unit, or method, is 403 naming the scope, audited", async () => {
    const unit = await createToken("connect-unit", "--role", "caller", "--unit", "other");
    const method = await createToken("connect-method", "--role", "caller", "--method", "other.v1.S/*");
    const mark = auditMark();
    expectRefused(await call("connect", unit.token), "connect", 403, new RegExp(`token hsu_${unit.id} is scoped to units other;`));
    expectRefused(await call("connect", method.token), "connect", 403, new RegExp(`token hsu_${method.id} is scoped to methods other\\.v1\\.S/\\*;`));
    expect(audited(mark, "permission_denied", new RegExp(`hsu_${unit.id} is scoped to units`)).who.subject).toBe(unit.id);
    expect(audited(mark, "permission_denied", new RegExp(`hsu_${method.id} is scoped to methods`)).who.subject).toBe(method.id);
  });

  it("an API token is 200, then 401 saying it was revoked once revoked, audited", async () => {
    const { token, id } = await createToken("connect-revoked", "--role", "caller", "--unit", "echo");
    expect((await call("connect", token)).status).toBe(200);
    await revoke(id);
    const mark = auditMark();
    expectRefused(await call("connect", token), "connect", 401, new RegExp(`token hsu_${id} \\("connect-revoked"\\) was revoked at `));
    audited(mark, "unauthenticated", new RegExp(`hsu_${id} .* was revoked`));
  });
});

describe("revoke holds from the very next call", () => {
  it.each(["rest", "connect"] as const)("%s: 200 successful calls in a row, revoke, and the very next call is 401, audited", async (protocol) => {
    const { token, id } = await createToken(`hot-${protocol}`, "--role", "caller", "--unit", "echo");
    for (let i = 0; i < 200; i++) {
      const r = await call(protocol, token, `call ${i}`);
      expect(r.status, `call ${i}: ${JSON.stringify(r.body)}`).toBe(200);
    }
    await revoke(id);
    const mark = auditMark();
    expectRefused(await call(protocol, token), protocol, 401, new RegExp(`token hsu_${id} \\("hot-${protocol}"\\) was revoked at `));
    expect(audited(mark, "unauthenticated", new RegExp(`hsu_${id} .* was revoked`)).who.kind).toBe("anonymous");
    // And it stays refused.
    for (let i = 0; i < 20; i++) expect((await call(protocol, token)).status).toBe(401);
  });

  it.each(["rest", "connect"] as const)("%s: with 8 callers using the token concurrently, every call begun after the revoke was answered is 401", async (protocol) => {
    const { token, id } = await createToken(`busy-${protocol}`, "--role", "caller", "--unit", "echo");
    const calls: { start: number; status: number }[] = [];
    let revokeSent = Infinity;
    let revoked = Infinity;
    let stop = false;
    const after = () => calls.filter((c) => c.start > revoked);
    const callers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const start = performance.now();
        const r = await call(protocol, token);
        calls.push({ start, status: r.status });
      }
    });
    const failed = Promise.all(callers).catch((e: unknown) => {
      stop = true;
      throw e;
    });
    try {
      await until("200 calls succeeded", () => stop || calls.filter((c) => c.status === 200).length >= 200, 60_000);
      revokeSent = performance.now();
      await revoke(id);
      revoked = performance.now();
      await until("100 calls begun after the revoke was answered", () => stop || after().length >= 100, 60_000);
    } finally {
      stop = true;
      await failed;
    }
    expect(calls.filter((c) => c.start < revokeSent && c.status !== 200)).toEqual([]);
    expect(after().filter((c) => c.status !== 401)).toEqual([]);
  });

  it("creating (and revoking) an unrelated token leaves a token that works working; the revoked one never passes", async () => {
    const kept = await createToken("kept", "--role", "caller", "--unit", "echo");
    expect((await echo(kept.token)).status).toBe(200);
    expect((await call("connect", kept.token)).status).toBe(200);
    const unrelated = await createToken("unrelated", "--role", "caller");
    expect((await echo(kept.token)).status).toBe(200);
    expect((await call("connect", kept.token)).status).toBe(200);
    expect((await echo(unrelated.token)).status).toBe(200);
    await revoke(unrelated.id);
    expect((await echo(unrelated.token)).status).toBe(401);
    expect((await call("connect", unrelated.token)).status).toBe(401);
    expect((await echo(kept.token)).status).toBe(200);
    expect((await call("connect", kept.token)).status).toBe(200);
    await createToken("another", "--role", "viewer");
    expect((await echo(unrelated.token)).status).toBe(401);
    expect((await echo(kept.token)).status).toBe(200);
  });
});
