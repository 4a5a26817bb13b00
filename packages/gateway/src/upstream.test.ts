import { createFileRegistry, fromBinary, type DescMethod } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallContext } from "./protocol.ts";
import { createUpstream, grpcFrame } from "./upstream.ts";

// The upstream against a real HTTP/2 server on a Unix socket standing in for the master's unit proxy.
const root = join(import.meta.dirname, "..", "..", "..");
const dir = mkdtempSync(join(tmpdir(), "gw-upstream-"));
const socketPath = join(dir, "control.sock");
let server: http2.Http2Server;
let check: DescMethod;
let watch: DescMethod;
const seen: http2.IncomingHttpHeaders[] = [];
let sessions = 0;

beforeAll(async () => {
  const set = join(dir, "health.binpb");
  execFileSync(join(root, "node_modules", ".bin", "buf"), ["build", join(root, "proto"), "--path", join(root, "proto", "grpc", "health", "v1", "health.proto"), "-o", set], { cwd: root });
  const health = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(set))).getService("grpc.health.v1.Health")!;
  check = health.method.check!;
  watch = health.method.watch!;
  server = http2.createServer();
  server.on("session", () => sessions++);
  server.on("stream", (stream, headers) => {
    seen.push(headers);
    const path = headers[":path"];
    stream.resume();
    if (path === "/grpc.health.v1.Health/Check") {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "x-from-unit": "yes" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(grpcFrame(Buffer.from([0x08, 0x01])));
    } else if (path === "/grpc.health.v1.Health/Watch") {
      // Many messages, then NOT_FOUND in the trailers.
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "5", "grpc-message": encodeURIComponent("no such thing: ünit") }));
      for (let i = 0; i < 200; i++) stream.write(grpcFrame(Buffer.from([0x08, 0x01])));
      stream.end();
    } else if (path === "/grpc.health.v1.Health/Hang") {
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
    }
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const ctx = (over: Partial<CallContext> = {}): CallContext => ({
  metadata: { "x-trace": "t1", authorization: "Bearer leak", cookie: "c=1", "hsu-unit": "other", connection: "x" },
  clientAddress: "10.1.2.3",
  signal: new AbortController().signal,
  timeoutMs: 5000,
  ...over,
});

describe("createUpstream", () => {
  it("sends the routing and caller headers, and only forwardable metadata", async () => {
    const up = createUpstream({ socketPath });
    const r = await up.unary("echo", check, new Uint8Array(), ctx({ authorization: "Bearer abc" }));
    expect(r).toMatchObject({ ok: true, headers: { "x-from-unit": "yes" } });
    const h = seen.at(-1)!;
    expect(h["hsu-unit"]).toBe("echo");
    expect(h["hsu-caller"]).toBe("gateway");
    expect(h["hsu-caller-address"]).toBe("10.1.2.3");
    expect(h["hsu-caller-authorization"]).toBe("Bearer abc");
    expect(h["grpc-timeout"]).toMatch(/^\d+m$/);
    expect(h["x-trace"]).toBe("t1");
    expect(h.authorization).toBeUndefined();
    expect(h.cookie).toBeUndefined();
    await up.unary("echo", check, new Uint8Array(), ctx());
    expect(seen.at(-1)!["hsu-caller-authorization"]).toBeUndefined();
    up.close();
  });

  it("reuses one session, and opens another when it is gone", async () => {
    const up = createUpstream({ socketPath });
    const before = sessions;
    for (let i = 0; i < 5; i++) expect((await up.unary("echo", check, new Uint8Array(), ctx())).ok).toBe(true);
    expect(sessions - before).toBe(1);
    up.close();
    expect((await up.unary("echo", check, new Uint8Array(), ctx())).ok).toBe(true);
    expect(sessions - before).toBe(2);
    up.close();
  });

  it("streams with back-pressure and ends with the unit's error", async () => {
    const up = createUpstream({ socketPath });
    let n = 0;
    let inside = 0;
    let most = 0;
    const r = await up.serverStream("echo", watch, new Uint8Array(), ctx(), async () => {
      n++;
      most = Math.max(most, ++inside);
      await new Promise((res) => setImmediate(res));
      inside--;
    });
    expect(n).toBe(200);
    expect(most).toBe(1);
    expect(r).toMatchObject({ ok: false, error: { code: 5, message: "no such thing: ünit" } });
    up.close();
  });

  it("ends a call at its deadline and at its signal, with a message", async () => {
    const up = createUpstream({ socketPath });
    const hang = { ...check, name: "Hang" } as DescMethod;
    const late = await up.unary("echo", hang, new Uint8Array(), ctx({ timeoutMs: 200 }));
    expect(late).toMatchObject({ ok: false, error: { code: 4, message: expect.stringMatching(/deadline of 200 ms/) } });
    const ac = new AbortController();
    const call = up.unary("echo", hang, new Uint8Array(), ctx({ signal: ac.signal }));
    ac.abort();
    expect(await call).toMatchObject({ ok: false, error: { code: 1, message: expect.stringMatching(/cancelled/) } });
    up.close();
  });

  it("says when the master is not there", async () => {
    const up = createUpstream({ socketPath: join(dir, "nobody.sock") });
    const r = await up.unary("echo", check, new Uint8Array(), ctx());
    expect(r).toMatchObject({ ok: false, error: { code: 14 } });
    up.close();
  });
});
