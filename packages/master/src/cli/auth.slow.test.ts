// Auth end to end: a real master (`hsu up -d`) with its TCP control port, API tokens made with
// `hsu token create`, calls made by the real `hsu` CLI and by gRPC clients over TCP and through
// the unit proxy, and `hsu audit verify` on the log the master wrote.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ControlService, Health } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import type { AuditEntry } from "../auth/audit.ts";
import { REFUSAL_BURST } from "../auth/audit-coalesce.ts";
import { createProjects, hsu, hsuWith, until } from "../test-support/hsu-cli.ts";

const echoScript = join(import.meta.dirname, "..", "..", "..", "..", "examples", "echo", "src", "unit.ts");
const projects = createProjects("hsu-auth-");
const controlToken = "the-legacy-control-token";
let dir: string;
let tcp: string;

const spec = `master:
  control:
    tcp: 127.0.0.1:0
    token_file: token
units:
  echo:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${echoScript}"]
  worker:
    command: sleep
    args: ["1000"]
  other:
    command: sleep
    args: ["1000"]
`;

/** `hsu token create ... --json` on the Unix socket (the owner is admin): the token and its id. */
async function create(...args: string[]): Promise<{ token: string; id: string }> {
  const r = await hsu(dir, "token", "create", "--json", ...args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { token: string; id: string };
}
/** `hsu ...args` against the TCP port with this token. */
const remote = (token: string | undefined, ...args: string[]) => hsuWith({ cwd: dir, env: { HSU_CONTROL_TOKEN: token } }, ...args, "--socket", tcp);
const control = (token?: string) => createClient(ControlService, createUnitTransport(tcp, token ? { token } : {}));
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e));
const audit = (): AuditEntry[] =>
  readFileSync(join(dir, ".hsu", "audit.log"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEntry);

beforeAll(async () => {
  dir = projects.make(spec);
  writeFileSync(join(dir, "token"), `${controlToken}\n`, { mode: 0o600 });
  const r = await hsu(dir, "up", "--detach");
  expect(r.code, r.stderr).toBe(0);
  tcp = readFileSync(join(dir, ".hsu", "control-tcp.addr"), "utf8").trim();
}, 90_000);
afterAll(async () => {
  await hsu(dir, "down");
  projects.removeAll();
}, 60_000);

describe("roles over the TCP control port", () => {
  it("a viewer can ps but cannot restart: PERMISSION_DENIED saying why, and an audit entry", async () => {
    const viewer = await create("--name", "dash", "--role", "viewer");
    const ps = await remote(viewer.token, "ps");
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/^worker +managed +running/m);
    const restart = await remote(viewer.token, "restart", "worker");
    expect(restart.code).toBe(1);
    expect(restart.stderr).toContain(`token hsu_${viewer.id} has role viewer; RestartUnit needs operator`);
    expect(audit().at(-1)).toMatchObject({
      who: { kind: "api-token", subject: viewer.id },
      method: "hsu.master.v1.ControlService/RestartUnit",
      units: ["worker"],
      from: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      result: "denied",
      code: "permission_denied",
      reason: expect.stringContaining("needs operator"),
    });
  });

  it("an operator can restart (audited as ok) but cannot apply", async () => {
    const op = await create("--name", "deploy", "--role", "operator");
    const restart = await remote(op.token, "restart", "worker");
    expect(restart.code, restart.stderr).toBe(0);
    expect(audit().at(-1)).toMatchObject({ who: { subject: op.id }, method: "hsu.master.v1.ControlService/RestartUnit", result: "ok", code: "ok" });
    const apply = await failure(control(op.token).apply({ specYaml: spec }));
    expect(apply).toMatchObject({ code: Code.PermissionDenied, rawMessage: expect.stringContaining("Apply needs admin") });
    const tokens = await failure(control(op.token).listTokens({}));
    expect(tokens).toMatchObject({ code: Code.PermissionDenied });
  });

  it("no token, a wrong one, an expired one: UNAUTHENTICATED saying which", async () => {
    expect(await failure(control().listUnits({}))).toMatchObject({ code: Code.Unauthenticated, rawMessage: expect.stringContaining("needs `authorization: Bearer <token>`") });
    expect(await failure(control("hsu_00000000_nope").listUnits({}))).toMatchObject({ code: Code.Unauthenticated, rawMessage: expect.stringContaining("is not valid") });
    const short = await create("--name", "short", "--role", "viewer", "--expires", "1s");
    await until("the token expired", async () => (await failure(control(short.token).listUnits({})))?.code === Code.Unauthenticated, 10_000);
    expect(await failure(control(short.token).listUnits({}))).toMatchObject({ rawMessage: expect.stringContaining(`token hsu_${short.id} ("short") expired at`) });
    expect(audit().at(-1)).toMatchObject({ who: { kind: "anonymous" }, method: "hsu.master.v1.ControlService/ListUnits", result: "denied", code: "unauthenticated" });
  });

  it("a revoked token is refused on the very next call", async () => {
    const t = await create("--name", "soon-gone", "--role", "viewer");
    expect((await control(t.token).listUnits({})).units.length).toBeGreaterThan(0);
    const r = await hsu(dir, "token", "revoke", t.id);
    expect(r.code, r.stderr).toBe(0);
    expect(await failure(control(t.token).listUnits({}))).toMatchObject({ code: Code.Unauthenticated, rawMessage: expect.stringContaining("was revoked") });
    const list = await hsu(dir, "token", "list", "--json");
    const listed = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    expect(listed.find((x) => x.id === t.id)).toMatchObject({ name: "soon-gone", revoked: expect.any(String) });
    expect(list.stdout).not.toContain(t.token.slice(13));
    expect(list.stdout).not.toMatch(/hash/);
  });

  it("a unit-scoped operator cannot touch another unit, nor every unit at once", async () => {
    const t = await create("--name", "worker-ops", "--role", "operator", "--unit", "work*");
    expect((await remote(t.token, "restart", "worker")).code).toBe(0);
    const other = await remote(t.token, "restart", "other");
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`token hsu_${t.id} is scoped to units work*; RestartUnit names "other"`);
    expect(await failure(control(t.token).stopUnit({ all: true }))).toMatchObject({ code: Code.PermissionDenied, rawMessage: expect.stringContaining("about every unit") });
  });

  it("the legacy control token is still admin", async () => {
    expect((await control(controlToken).listTokens({})).tokens.length).toBeGreaterThan(0);
  });
});

describe("unit calls through the proxy", () => {
  it("a caller token scoped to one method calls it, and nothing else of the unit", async () => {
    const t = await create("--name", "web", "--role", "caller", "--unit", "echo", "--method", "hsu.examples.echo.v1.EchoService/Echo");
    const via = (token: string) => createUnitTransport(tcp, { token, interceptors: [(next) => (req) => (req.header.set("hsu-unit", "echo"), next(req))] });
    expect(await createClient(EchoService, via(t.token)).echo({ message: "hi" })).toMatchObject({ message: "hi", unitId: "echo" });
    const health = await failure(createClient(Health, via(t.token)).check({}));
    expect(health).toMatchObject({ code: Code.PermissionDenied, rawMessage: expect.stringContaining("grpc.health.v1.Health/Check is not one of them") });
    expect(audit().at(-1)).toMatchObject({ who: { subject: t.id }, method: "grpc.health.v1.Health/Check", units: ["echo"], result: "denied" });
    // A viewer is no caller.
    const viewer = await create("--name", "looker", "--role", "viewer");
    expect(await failure(createClient(EchoService, via(viewer.token)).echo({ message: "x" }))).toMatchObject({ code: Code.PermissionDenied });
  });

  it("a gateway's call on the Unix socket is authorized as its caller, not as the socket's owner", async () => {
    const t = await create("--name", "gw-client", "--role", "caller", "--unit", "echo");
    const socket = join(dir, ".hsu", "control.sock");
    const gateway = (headers: Record<string, string>) =>
      createUnitTransport(`unix:${socket}`, { interceptors: [(next) => (req) => { for (const [k, v] of Object.entries({ "hsu-caller": "gateway", "hsu-caller-address": "10.1.2.3", ...headers })) req.header.set(k, v); return next(req); }] });
    expect(await createClient(EchoService, gateway({ "hsu-unit": "echo", "hsu-caller-authorization": `Bearer ${t.token}` })).echo({ message: "via gw" })).toMatchObject({ message: "via gw" });
    const anonymous = await failure(createClient(EchoService, gateway({ "hsu-unit": "echo" })).echo({ message: "x" }));
    expect(anonymous).toMatchObject({ code: Code.Unauthenticated, rawMessage: expect.stringContaining("auth: none") });
    expect(audit().at(-1)).toMatchObject({ who: { kind: "anonymous" }, from: "unix", via: "gateway 10.1.2.3", result: "denied" });
    // The caller's token does not make it an operator of the master.
    const ctl = createClient(ControlService, gateway({ "hsu-caller-authorization": `Bearer ${t.token}` }));
    expect(await failure(ctl.restartUnit({ id: "worker" }))).toMatchObject({ code: Code.PermissionDenied });
  });
});

describe("a flood of refused calls", () => {
  it("10,000 bad-token calls over TCP grow the log by at most burst + 1 lines a window; the summary counts the rest exactly", async () => {
    const before = audit().length;
    const bad = control("not-a-token-of-this-master");
    let refused = 0;
    const other: string[] = [];
    // A connection that never authenticates is cut after a few seconds; calls in flight then are not
    // processed (REFUSED_STREAM, never audited) and are sent again, so exactly 10,000 reach the gate.
    for (let round = 0; refused < 10_000 && round < 1000; round++) {
      const outcomes = await Promise.all(Array.from({ length: Math.min(100, 10_000 - refused) }, () => failure(bad.listUnits({}))));
      for (const e of outcomes) {
        if (e?.code === Code.Unauthenticated) refused += 1;
        else if (!(e?.code === Code.Unavailable && e.rawMessage.includes("REFUSED_STREAM"))) other.push(e ? `${Code[e.code]}: ${e.rawMessage}` : "answered");
      }
    }
    expect(other.slice(0, 3)).toEqual([]);
    expect(refused).toBe(10_000);
    // The summary of the open window is written when the master stops.
    expect((await hsu(dir, "down")).code).toBe(0);
    const up = await hsu(dir, "up", "--detach");
    expect(up.code, up.stderr).toBe(0);
    tcp = readFileSync(join(dir, ".hsu", "control-tcp.addr"), "utf8").trim();
    const added = audit().slice(before);
    const refusals = added.filter((e) => e.result === "denied");
    const summaries = refusals.filter((e) => e.count !== undefined);
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    expect(summaries[0]).toMatchObject({ from: "127.0.0.1", code: "unauthenticated", reason: expect.stringMatching(/^\d+ more refusals like this from 127\.0\.0\.1 in [\d.]+s: the bearer token is neither/) });
    // Each window: REFUSAL_BURST lines one by one, then one summary; besides them only `hsu down`'s ShutdownMaster.
    expect(refusals.length).toBeLessThanOrEqual((REFUSAL_BURST + 1) * summaries.length);
    expect(added.length - refusals.length).toBe(1);
    expect(refusals.reduce((n, e) => n + (e.count ?? 1), 0)).toBe(10_000);
    const verify = await hsu(dir, "audit", "verify", "--json");
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
    console.log(`10,000 refused calls: ${refusals.length} lines of refusals (${summaries.length} summar${summaries.length === 1 ? "y" : "ies"}), ${added.length} lines in all`);
  }, 120_000);
});

describe("hsu audit", () => {
  it("a restarted master keeps its tokens and continues the audit chain", async () => {
    const viewer = await create("--name", "survivor", "--role", "viewer");
    const before = audit().at(-1)!.seq;
    expect((await hsu(dir, "down")).code).toBe(0);
    const up = await hsu(dir, "up", "--detach");
    expect(up.code, up.stderr).toBe(0);
    tcp = readFileSync(join(dir, ".hsu", "control-tcp.addr"), "utf8").trim();
    expect((await control(viewer.token).listUnits({})).units.length).toBeGreaterThan(0);
    expect(await failure(control(viewer.token).restartUnit({ id: "worker" }))).toMatchObject({ code: Code.PermissionDenied });
    // `hsu down` was a ShutdownMaster by the socket's owner: audited by the master it stopped.
    // (Summaries of coalesced refusals, written as the master stopped, are left out.)
    expect(audit().filter((e) => e.count === undefined).slice(-2)).toMatchObject([
      { seq: before + 1, who: { kind: "socket-owner" }, method: "hsu.master.v1.ControlService/ShutdownMaster", result: "ok" },
      { seq: before + 2, who: { subject: viewer.id }, result: "denied" },
    ]);
    const ok = await hsu(dir, "audit", "verify", "--json");
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, entries: audit().length });
  }, 60_000);

  it("shows the entries and verifies the chain; a tampered line fails verify with its line number", async () => {
    const shown = await hsu(dir, "audit", "-n", "3");
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout.trim().split("\n")).toHaveLength(3);
    const ok = await hsu(dir, "audit", "verify");
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/\d+ entries, the hash chain is intact/);
    // Turn one refusal into a success, as someone covering their tracks would.
    const file = join(dir, ".hsu", "audit.log");
    const lines = readFileSync(file, "utf8").split("\n");
    const i = lines.findIndex((l) => l.includes('"result":"denied"'));
    lines[i] = lines[i]!.replace('"result":"denied"', '"result":"ok"');
    writeFileSync(file, lines.join("\n"));
    const bad = await hsu(dir, "audit", "verify");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`audit.log:${i + 1}: entry ${i + 1} does not match its hash: it was edited`);
  });
});
