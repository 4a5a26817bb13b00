import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProjects, hsu, until } from "../../master/src/test-support/hsu-cli.ts";
import { startTestProvider, type TestProvider } from "../../master/src/test-support/oidc-provider.ts";

// Auth end to end: a real master trusting a real OIDC provider (oidc-provider on
// 127.0.0.1), a gateway route with `auth: required` to the TS echo unit.
const root = join(import.meta.dirname, "..", "..", "..");
const echoUnit = join(root, "examples", "echo", "src", "unit.ts");
const gatewayMain = join(import.meta.dirname, "main.ts");
const projects = createProjects("hsu-gw-auth-");
const sh = promisify(execFile);
const clients = { app: { roles: ["caller"] }, nobody: { roles: ["marketing"] } };
let dir: string;
let base: string;
let idp: TestProvider;
let other: TestProvider;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function echo(token: string): Promise<{ status: number; body: { code?: string; message?: string } }> {
  const res = await fetch(`${base}/v1/echo`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: '{"message":"a"}', signal: AbortSignal.timeout(20_000) });
  return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
}

beforeAll(async () => {
  idp = await startTestProvider({ kid: "k1", clients, audiences: { "urn:hsu": "hsu", "urn:other": "other-api" } });
  other = await startTestProvider({ kid: "k1", clients });
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
  await idp?.close();
  await other?.close();
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
