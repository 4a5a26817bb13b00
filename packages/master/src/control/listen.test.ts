// The control API's one HTTP/2 server: unary gRPC on the fast path, connect-node loaded only for
// what needs it (streams, the Connect protocol), the unit proxy never through it, and the TCP
// token checked on both paths (auth-gate.ts).
import type { ConnectRouter } from "@connectrpc/connect";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { listenControl, type ControlListeners } from "./listen.ts";

const dirs: string[] = [];
const open: ControlListeners[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "hsu-lc-"));
  dirs.push(d);
  return d;
};

/** Health with a unary Check and a Watch that sends one status and ends. */
function healthRoutes(calls: { routes: number }) {
  return (router: ConnectRouter) => {
    calls.routes++;
    router.service(Health, {
      check: (req) => {
        if (req.service === "missing") throw new ConnectError(`no service "missing"`, Code.NotFound);
        return { status: Status.SERVING };
      },
      async *watch() {
        yield { status: Status.NOT_SERVING };
      },
    });
  };
}

/** One raw HTTP/2 POST; returns the response headers, trailers and body. */
function rawCall(socketPath: string, headers: http2.OutgoingHttpHeaders, body: Buffer) {
  return new Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const session = http2.connect("http://localhost", { createConnection: () => net.connect(socketPath) });
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ...headers });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    let data = "";
    req.on("response", (h) => (head = h));
    req.on("trailers", (t) => (trailers = t));
    req.setEncoding("utf8").on("data", (d: string) => (data += d));
    req.on("end", () => {
      session.close();
      resolve({ headers: head, trailers, body: data });
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("listenControl", () => {
  it("answers unary calls without loading connect-node, node:https, zlib or fetch, and loads them for the first stream", async () => {
    const dir = tempDir();
    const script = fileURLToPath(new URL("../test-support/control-modules.ts", import.meta.url));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["--conditions=@hsu/source", script, join(dir, "control.sock")], { timeout: 30_000, cwd: dir }, (e, stdout, stderr) => (e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout))),
    );
    expect(JSON.parse(out)).toEqual({ before: [], unary: [Status.SERVING, Status.SERVING], afterUnary: [], stream: [Status.NOT_SERVING], afterStream: ["zlib", "https"] });
  });

  it("serves the Connect protocol and unary errors, calls routes once, and sends other paths to the unit proxy", async () => {
    const dir = tempDir();
    const socketPath = join(dir, "control.sock");
    const calls = { routes: 0 };
    const proxied: string[] = [];
    const control = await listenControl({
      socketPath,
      routes: healthRoutes(calls),
      fallback: (req, res) => {
        proxied.push(req.url);
        res.writeHead(200, { "content-type": "application/grpc", "grpc-status": "12" });
        res.end();
      },
    });
    open.push(control);
    const c = createClient(Health, createUnitTransport(`unix:${socketPath}`));
    expect((await c.check({})).status).toBe(Status.SERVING);
    // An error on the fast path keeps its code and message.
    const err = await c.check({ service: "missing" }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.NotFound, rawMessage: `no service "missing"` });
    // The Connect protocol (JSON) is not the fast path's: connect-node answers it.
    const json = await rawCall(socketPath, { ":path": "/grpc.health.v1.Health/Check", "content-type": "application/json" }, Buffer.from("{}"));
    expect(json.headers[":status"]).toBe(200);
    expect(JSON.parse(json.body)).toEqual({ status: "SERVING" });
    // A stream, after connect-node has loaded.
    const got: Status[] = [];
    for await (const m of c.watch({})) got.push(m.status);
    expect(got).toEqual([Status.NOT_SERVING]);
    // A path no route serves goes to the proxy, gRPC or not, and whether or not connect-node is loaded.
    const other = await rawCall(socketPath, { ":path": "/some.unit.v1.Echo/Say", "content-type": "application/grpc", "hsu-unit": "u1" }, Buffer.alloc(5));
    expect(other.headers["grpc-status"]).toBe("12");
    expect(proxied).toEqual(["/some.unit.v1.Echo/Say"]);
    // Both paths share the implementations the routes gave once.
    expect(calls.routes).toBe(1);
  });

  it("over TCP refuses a unary call without the token or with a wrong one, on the fast path too", async () => {
    const dir = tempDir();
    const token = "t0ken-for-the-test";
    const control = await listenControl({ socketPath: join(dir, "control.sock"), tcp: "127.0.0.1:0", token, routes: healthRoutes({ routes: 0 }) });
    open.push(control);
    const client = (t?: string) => createClient(Health, createUnitTransport(control.tcpAddress!, t === undefined ? {} : { token: t }));
    const none = await client().check({}).catch((e: unknown) => ConnectError.from(e));
    expect(none).toMatchObject({ code: Code.Unauthenticated });
    const wrong = await client("not-the-token").check({}).catch((e: unknown) => ConnectError.from(e));
    // A token that is not valid is no credential at all: UNAUTHENTICATED (PERMISSION_DENIED is for a valid one that may not).
    expect(wrong).toMatchObject({ code: Code.Unauthenticated });
    const wrongStream = await (async () => {
      for await (const _ of client("not-the-token").watch({})) return "answered";
      return "ended";
    })().catch((e: unknown) => ConnectError.from(e));
    expect(wrongStream).toMatchObject({ code: Code.Unauthenticated });
    expect((await client(token).check({})).status).toBe(Status.SERVING);
    // (That a call with the token makes its connection trusted, on the fast path: flood.slow.test.ts.)
  });
});
