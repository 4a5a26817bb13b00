import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateGatewayConfig } from "./config.ts";
import { connectProtocol } from "./connect.ts";
import { loadRoutes } from "./descriptors.ts";
import { grpcWebProtocol } from "./grpc-web.ts";
import type { CallContext, UnaryResult, Upstream } from "./protocol.ts";
import { createGatewayServer, type GatewayServer } from "./server.ts";

// The server and protocols over real sockets, with an upstream that records what it was asked
// and answers as told (the master path is the slow suite's).
const root = join(import.meta.dirname, "..", "..", "..");
const dir = mkdtempSync(join(tmpdir(), "gw-server-"));
const calls: { unit: string; path: string; ctx: CallContext }[] = [];
let answer: { code: number; message: string } | undefined;
const upstream: Upstream = {
  async unary(unit, method, _req, ctx): Promise<UnaryResult> {
    calls.push({ unit, path: `/${method.parent.typeName}/${method.name}`, ctx });
    return answer ? { ok: false, error: answer, headers: {}, trailers: {} } : { ok: true, message: new Uint8Array([0x08, 0x01]), headers: { "x-unit": "1" }, trailers: { "x-t": "2" } };
  },
  async serverStream(unit, method, _req, ctx, onMessage) {
    calls.push({ unit, path: `/${method.parent.typeName}/${method.name}`, ctx });
    await onMessage(new Uint8Array([0x08, 0x01]));
    await onMessage(new Uint8Array([0x08, 0x02]));
    return { ok: false, error: { code: 14, message: "gone away" }, headers: {}, trailers: {} };
  },
};
let server: GatewayServer;
let base: string;

beforeAll(async () => {
  const set = join(dir, "health.binpb");
  execFileSync(join(root, "node_modules", ".bin", "buf"), ["build", join(root, "proto"), "--path", join(root, "proto", "grpc", "health", "v1", "health.proto"), "-o", set], { cwd: root });
  const config = validateGatewayConfig({ listen: "127.0.0.1:0", routes: [{ unit: "u", descriptors: [set], auth: "none", prefix: "/p" }] });
  const { registry, services } = loadRoutes(config.routes);
  server = createGatewayServer({ config, protocols: [connectProtocol(), grpcWebProtocol()], upstream, registry, services });
  base = await server.listen();
}, 60_000);

afterAll(async () => {
  await server.close(1000);
  rmSync(dir, { recursive: true, force: true });
});

const check = "/p/grpc.health.v1.Health/Check";
const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

describe("the gateway server", () => {
  it("passes client metadata on without credentials, cookies or hsu-* headers", async () => {
    answer = undefined;
    const r = await post(check, "{}", { authorization: "Bearer x", cookie: "s=1", "hsu-unit": "other", "x-trace": "abc", "connect-timeout-ms": "1500" });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "SERVING" });
    expect(r.headers.get("x-unit")).toBe("1");
    expect(r.headers.get("trailer-x-t")).toBe("2");
    const c = calls.at(-1)!;
    expect(c).toMatchObject({ unit: "u", path: "/grpc.health.v1.Health/Check" });
    expect(c.ctx.metadata).toMatchObject({ "x-trace": "abc" });
    for (const k of ["authorization", "cookie", "hsu-unit", "content-type", "connect-timeout-ms"]) expect(c.ctx.metadata[k]).toBeUndefined();
    expect(c.ctx.authorization).toBe("Bearer x");
    expect(c.ctx.timeoutMs).toBe(1500);
    expect(c.ctx.clientAddress).toBe("127.0.0.1");
  });

  it("maps the unit's error codes to Connect errors and HTTP statuses", async () => {
    for (const [code, status, name] of [[7, 403, "permission_denied"], [16, 401, "unauthenticated"], [14, 503, "unavailable"], [5, 404, "not_found"]] as const) {
      answer = { code, message: `because ${name}` };
      const r = await post(check, "{}");
      expect(r.status).toBe(status);
      expect(await r.json()).toEqual({ code: name, message: `because ${name}` });
    }
    answer = undefined;
  });

  it("serves h2c by prior knowledge on the same port", async () => {
    const s = http2.connect(base);
    const req = s.request({ ":method": "POST", ":path": check, "content-type": "application/json" });
    req.end("{}");
    const [status, body] = await new Promise<[number, string]>((resolve) => {
      let st = 0;
      let b = "";
      req.on("response", (h) => (st = Number(h[":status"])));
      req.on("data", (d: Buffer) => (b += d.toString()));
      req.on("end", () => resolve([st, b]));
    });
    s.close();
    expect(status).toBe(200);
    expect(JSON.parse(body)).toEqual({ status: "SERVING" });
  });

  it("Connect streaming: envelopes, then the end-of-stream message with the error", async () => {
    const env = Buffer.concat([Buffer.from([0, 0, 0, 0, 2]), Buffer.from("{}")]);
    const r = await fetch(`${base}/p/grpc.health.v1.Health/Watch`, { method: "POST", headers: { "content-type": "application/connect+json" }, body: env });
    expect(r.headers.get("content-type")).toBe("application/connect+json");
    const b = Buffer.from(await r.arrayBuffer());
    const frames: [number, string][] = [];
    for (let i = 0; i < b.length; ) {
      const len = b.readUInt32BE(i + 1);
      frames.push([b[i]!, b.subarray(i + 5, i + 5 + len).toString()]);
      i += 5 + len;
    }
    expect(frames).toEqual([
      [0, '{"status":"SERVING"}'],
      [0, '{"status":"NOT_SERVING"}'],
      [2, '{"error":{"code":"unavailable","message":"gone away"},"metadata":{}}'],
    ]);
  });

  it("answers /healthz and 404 for what no protocol takes", async () => {
    expect(await (await fetch(`${base}/healthz`)).text()).toBe("ok\n");
    const r = await fetch(`${base}/nothing`);
    expect(r.status).toBe(404);
    expect(((await r.json()) as { message: string }).message).toMatch(/no route for GET \/nothing/);
  });
});
