// The auth gate on real listeners: both paths (the unary fast path and connect-node: streams,
// the Connect protocol), the unit proxy, the gateway's callers on the Unix socket, and the audit
// entries each writes. The ControlService policy itself: auth/policy.test.ts.
import { Code, ConnectError, createClient, type ConnectRouter } from "@connectrpc/connect";
import { HsuError } from "@hsu/client";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openAuditLog, verifyAudit, type AuditEntry, type AuditLog } from "../auth/audit.ts";
import { openTokenStore, type TokenStore } from "../auth/tokens.ts";
import { unitsOf } from "./auth-gate.ts";
import { listenControl, type ControlListeners } from "./listen.ts";

let dir: string;
let control: ControlListeners;
let tokens: TokenStore;
let log: AuditLog;
const proxied: string[] = [];
const logsAsked: string[][] = [];

// A ControlService with just enough behind it: units are whatever is asked for.
const routes = (router: ConnectRouter) =>
  router.service(ControlService, {
    listUnits: () => ({ units: [{ id: "echo" }] }),
    restartUnit: (req) => ({ units: [{ id: req.id }] }),
    async *streamLogs(req) {
      logsAsked.push(req.units);
      yield { entry: { unit: req.units[0] ?? "all", text: "a line" } };
    },
  });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hsu-gate-"));
  tokens = openTokenStore({ stateDir: dir });
  log = await openAuditLog(join(dir, "audit.log"));
  control = await listenControl({
    socketPath: join(dir, "control.sock"),
    tcp: "127.0.0.1:0",
    auth: { tokens, audit: log, publicServices: (unit, service) => unit === "echo" && service === "pub.v1.Open" },
    routes,
    fallback: (req, res) => {
      proxied.push(`${req.headers["hsu-unit"]} ${req.url}`);
      res.writeHead(200, { "content-type": "application/grpc" });
      res.addTrailers({ "grpc-status": "0" });
      res.end();
    },
  });
});
afterAll(async () => {
  await control.close();
  await log.close();
  rmSync(dir, { recursive: true, force: true });
});

const entries = (): AuditEntry[] => readFileSync(join(dir, "audit.log"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e));

/** One raw gRPC call (an empty message) with these headers; its grpc-status and message. */
function raw(address: string, headers: http2.OutgoingHttpHeaders): Promise<{ status: string | undefined; message: string }> {
  return new Promise((resolve, reject) => {
    const session = address.startsWith("unix:")
      ? http2.connect("http://localhost", { createConnection: () => net.connect(address.slice(5)) })
      : http2.connect(`http://${address}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", "content-type": "application/grpc", te: "trailers", ...headers });
    let status: string | undefined;
    let message = "";
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) {
        status = String(h["grpc-status"]);
        message = decodeURIComponent(String(h["grpc-message"] ?? ""));
      }
    };
    req.on("response", take);
    req.on("trailers", take);
    req.resume();
    req.on("end", () => {
      session.close();
      resolve({ status, message });
    });
    req.on("error", reject);
    req.end(Buffer.alloc(5));
  });
}

describe("the auth gate", () => {
  it("checks a server stream's units from its request (connect-node path)", async () => {
    const { token } = tokens.create({ name: "scoped", roles: ["viewer"], units: ["echo"] });
    const c = createClient(ControlService, createUnitTransport(control.tcpAddress!, { token }));
    const got: string[] = [];
    for await (const m of c.streamLogs({ units: ["echo"] })) got.push(m.entry!.text);
    expect(got).toEqual(["a line"]);
    const all = await (async () => {
      for await (const _ of c.streamLogs({})) return "answered";
      return "ended";
    })().catch((e: unknown) => ConnectError.from(e));
    expect(all).toMatchObject({ code: Code.PermissionDenied, rawMessage: expect.stringContaining("StreamLogs is about every unit") });
    expect(logsAsked).toEqual([["echo"]]);
  });

  it("refuses on the Connect protocol (JSON) as on gRPC", async () => {
    const { token } = tokens.create({ name: "viewer", roles: ["viewer"] });
    const session = http2.connect(`http://${control.tcpAddress}`);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": "/hsu.master.v1.ControlService/RestartUnit", "content-type": "application/json", authorization: `Bearer ${token}` });
      let status = 0;
      let body = "";
      req.on("response", (h) => (status = Number(h[":status"])));
      req.setEncoding("utf8").on("data", (d: string) => (body += d));
      req.on("end", () => resolve({ status, body }));
      req.on("error", reject);
      req.end(JSON.stringify({ id: "echo" }));
    }).finally(() => session.close());
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toMatchObject({ code: "permission_denied", message: expect.stringContaining("RestartUnit needs operator") });
  });

  it("a gateway's anonymous caller reaches only a service some route declares `auth: none`", async () => {
    const socket = `unix:${control.socketPath}`;
    const gw = { "hsu-caller": "gateway", "hsu-caller-address": "192.0.2.7" };
    expect(await raw(socket, { ":path": "/pub.v1.Open/Get", "hsu-unit": "echo", ...gw })).toEqual({ status: "0", message: "" });
    const closed = await raw(socket, { ":path": "/priv.v1.Closed/Get", "hsu-unit": "echo", ...gw });
    expect(closed).toEqual({ status: String(Code.Unauthenticated), message: expect.stringContaining('priv.v1.Closed of unit "echo" is not on a gateway route with `auth: none`') });
    const otherUnit = await raw(socket, { ":path": "/pub.v1.Open/Get", "hsu-unit": "db", ...gw });
    expect(otherUnit.status).toBe(String(Code.Unauthenticated));
    expect(proxied).toEqual(["echo /pub.v1.Open/Get"]);
    expect(entries().at(-1)).toMatchObject({ who: { kind: "anonymous" }, units: ["db"], from: "unix", via: "gateway 192.0.2.7", result: "denied", code: "unauthenticated" });
  });

  it("the Unix socket's owner is admin and audited; a forged site header changes nothing", async () => {
    const c = createClient(ControlService, createUnitTransport(`unix:${control.socketPath}`, { interceptors: [(next) => (req) => (req.header.set("hsu-auth-site", "1"), next(req))] }));
    expect((await c.restartUnit({ id: "echo" })).units[0]!.id).toBe("echo");
    expect(entries().at(-1)).toMatchObject({ who: { kind: "socket-owner", subject: "owner" }, method: "hsu.master.v1.ControlService/RestartUnit", units: ["echo"], from: "unix", result: "ok" });
    expect(verifyAudit(readFileSync(join(dir, "audit.log"), "utf8"))).toMatchObject({ ok: true });
  });

  it("over TCP a request without a credential never reaches the proxy", async () => {
    const r = await raw(control.tcpAddress!, { ":path": "/pub.v1.Open/Get", "hsu-unit": "echo" });
    expect(r.status).toBe(String(Code.Unauthenticated));
    expect(proxied).toEqual(["echo /pub.v1.Open/Get"]);
  });
});

describe("a JWT whose identity provider cannot be reached", () => {
  it("is UNAVAILABLE (not UNAUTHENTICATED) on the control API and for a gateway's unit call, and audited as a refusal", async () => {
    const sub = mkdtempSync(join(tmpdir(), "hsu-gate-idp-"));
    const audit = await openAuditLog(join(sub, "audit.log"));
    const down = async (): Promise<never> => {
      throw new HsuError("unavailable", "cannot fetch the key set of http://127.0.0.1:1: connect ECONNREFUSED");
    };
    const l = await listenControl({ socketPath: join(sub, "control.sock"), tcp: "127.0.0.1:0", auth: { tokens, audit, oidc: down }, routes, fallback: () => expect.unreachable() });
    try {
      const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
      const c = createClient(ControlService, createUnitTransport(l.tcpAddress!, { token: jwt }));
      expect(await failure(c.listUnits({}))).toMatchObject({ code: Code.Unavailable, rawMessage: expect.stringMatching(/^the JWT cannot be checked now: cannot fetch the key set/) });
      const gw = { "hsu-caller": "gateway", "hsu-caller-address": "192.0.2.9", "hsu-caller-authorization": `Bearer ${jwt}` };
      const r = await raw(`unix:${l.socketPath}`, { ":path": "/pub.v1.Open/Get", "hsu-unit": "echo", ...gw });
      expect(r).toEqual({ status: String(Code.Unavailable), message: expect.stringContaining("cannot be checked now") });
      await audit.close();
      const lines = readFileSync(join(sub, "audit.log"), "utf8").split("\n").filter(Boolean).map((x) => JSON.parse(x) as AuditEntry);
      expect(lines.map((e) => [e.method, e.result, e.code])).toEqual([
        ["hsu.master.v1.ControlService/ListUnits", "denied", "unavailable"],
        ["pub.v1.Open/Get", "denied", "unavailable"],
      ]);
    } finally {
      await l.close();
      rmSync(sub, { recursive: true, force: true });
    }
  });
});

describe("unitsOf", () => {
  it.each([
    ["StartUnit", { id: "a", ids: ["b"] }, ["a", "b"]],
    ["StopUnit", { all: true }, []],
    ["GetUnit", { id: "a" }, ["a"]],
    ["ScalePool", { pool: "w" }, ["w"]],
    ["StreamEvents", { units: ["x"] }, ["x"]],
    ["Apply", { specYaml: "" }, []],
  ] as const)("%s %j names %j", (name, msg, want) => expect(unitsOf(name, msg)).toEqual(want));
});
