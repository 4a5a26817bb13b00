import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { Health, HealthCheckResponse_ServingStatus as Status } from "@hsu/proto";
import { HealthCheckRequestSchema, HealthCheckResponseSchema } from "@hsu/proto/gen/grpc/health/v1/health_pb.js";
import { createUnitTransport, listenH2c, type H2cListener } from "@hsu/transport";
import { createClient } from "@connectrpc/connect";
import { createFileRegistry } from "@bufbuild/protobuf";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorProtoSchema, file_google_protobuf_wrappers, type StringValueSchema } from "@bufbuild/protobuf/wkt";
import * as http2 from "node:http2";
import * as net from "node:net";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createFastUnary } from "@hsu/transport/server";
import { serveUnit, unitService, type RunningUnit } from "./serve-unit.ts";

// A one-method domain service, built here so the test owns its handler.
const Say = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "fast_unary_test.proto",
    package: "hsu.test",
    syntax: "proto3",
    dependency: ["google/protobuf/wrappers.proto"],
    service: [{ name: "Say", method: [{ name: "Hello", inputType: ".google.protobuf.StringValue", outputType: ".google.protobuf.StringValue" }] }],
  }),
  () => file_google_protobuf_wrappers,
).getService("hsu.test.Say") as unknown as GenService<{
  hello: { methodKind: "unary"; input: typeof StringValueSchema; output: typeof StringValueSchema };
}>;

const path = "/grpc.health.v1.Health/Check";

interface Reply {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
}

/** Sends the given byte chunks as separate DATA frames and collects the reply. */
function rawCall(session: http2.ClientHttp2Session, chunks: Buffer[], extra: http2.OutgoingHttpHeaders = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...extra });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const body: Buffer[] = [];
    req.on("response", (h) => (headers = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => body.push(c));
    req.on("error", reject);
    req.on("close", () => resolve({ headers, trailers, body: Buffer.concat(body) }));
    const send = (i: number) => {
      if (i === chunks.length) return req.end();
      // One write per tick so each chunk leaves as its own DATA frame.
      req.write(chunks[i], () => setImmediate(() => send(i + 1)));
    };
    send(0);
  });
}

function frame(service: string): Buffer {
  const bytes = toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }));
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

const status = (r: Reply) => (r.trailers ?? r.headers)["grpc-status"];

describe("unary fast path (server)", () => {
  let listener: H2cListener | undefined;
  let session: http2.ClientHttp2Session | undefined;
  let unit: RunningUnit | undefined;
  let seen: HandlerContext | undefined;
  let fallbackHits = 0;

  afterEach(async () => {
    session?.destroy();
    session = undefined;
    await listener?.close({ force: true });
    listener = undefined;
    await unit?.shutdown(100);
    unit = undefined;
  });

  async function start(check: (service: string, ctx: HandlerContext) => unknown, readMaxBytes = 1024) {
    const dir = mkdtempSync(join(tmpdir(), "hsu-fast-"));
    const streamFilter = createFastUnary({
      services: [{ service: Health, impl: { check: (req: { service: string }, ctx: HandlerContext) => ((seen = ctx), check(req.service, ctx)) } as never }],
      readMaxBytes,
    });
    const fallback = connectNodeAdapter({ routes: () => {}, grpc: true });
    listener = await listenH2c(`unix:${dir}/s.sock`, (req, res) => (fallbackHits++, fallback(req, res)), { streamFilter });
    const sock = join(dir, "s.sock");
    session = http2.connect("http://localhost", { createConnection: () => net.connect(sock) });
    return session;
  }

  it("reads a message split across DATA frames, with the 5-byte prefix split too", async () => {
    const s = await start((service) => ({ status: service === "abcdef" ? Status.SERVING : Status.UNKNOWN }));
    const f = frame("abcdef");
    const r = await rawCall(s, [f.subarray(0, 2), f.subarray(2, 4), f.subarray(4, 7), f.subarray(7)]);
    expect(status(r)).toBe("0");
    expect(r.body.readUInt32BE(1)).toBe(r.body.length - 5);
    expect(fromBinary(HealthCheckResponseSchema, r.body.subarray(5)).status).toBe(Status.SERVING);
    expect(fallbackHits).toBe(0);
    expect(seen!.requestHeader.get("content-type")).toBe("application/grpc");
  });

  it("answers a handler's ConnectError trailers-only, with its message and metadata", async () => {
    const s = await start(() => {
      throw new ConnectError("no such thing: 100% sure", Code.NotFound, { "x-why": "gone" });
    });
    const r = await rawCall(s, [frame("x")]);
    expect(r.trailers).toBeUndefined();
    expect(r.headers["grpc-status"]).toBe(String(Code.NotFound));
    expect(decodeURIComponent(r.headers["grpc-message"] as string)).toBe("no such thing: 100% sure");
    expect(r.headers["x-why"]).toBe("gone");
  });

  it("answers INTERNAL for a plain throw and keeps serving", async () => {
    let n = 0;
    const s = await start(() => {
      if (n++ === 0) throw new Error("boom");
      return { status: Status.SERVING };
    });
    expect(status(await rawCall(s, [frame("x")]))).toBe(String(Code.Internal));
    expect(status(await rawCall(s, [frame("x")]))).toBe("0");
  });

  it("rejects an oversized message (RESOURCE_EXHAUSTED), a malformed one and a compressed one", async () => {
    const s = await start(() => ({ status: Status.SERVING }), 16);
    const big = await rawCall(s, [frame("x".repeat(100))]);
    expect(status(big)).toBe(String(Code.ResourceExhausted));
    expect(decodeURIComponent(big.headers["grpc-message"] as string)).toContain("readMaxBytes 16");
    const garbage = Buffer.from([0, 0, 0, 0, 3, 0xff, 0xff, 0xff]);
    expect(status(await rawCall(s, [garbage]))).toBe(String(Code.Internal));
    const compressed = frame("x");
    compressed[0] = 1;
    expect(status(await rawCall(s, [compressed]))).toBe(String(Code.Internal));
    expect(status(await rawCall(s, [frame("ok")]))).toBe("0");
  });


  it("answers a body cut short INTERNAL, a second message UNIMPLEMENTED and an empty body UNIMPLEMENTED, and keeps serving", async () => {
    let calls = 0;
    const s = await start(() => (calls++, { status: Status.SERVING }));
    const f = frame("abc");
    expect(status(await rawCall(s, [f.subarray(0, f.length - 1)]))).toBe(String(Code.Internal));
    expect(status(await rawCall(s, [f.subarray(0, 3)]))).toBe(String(Code.Internal));
    expect(status(await rawCall(s, [f, f]))).toBe(String(Code.Unimplemented));
    expect(status(await rawCall(s, []))).toBe(String(Code.Unimplemented));
    expect(calls).toBe(0);
    expect(status(await rawCall(s, [f]))).toBe("0");
    expect(fallbackHits).toBe(0);
  });
  it("answers DEADLINE_EXCEEDED at grpc-timeout and aborts the handler's signal", async () => {
    let aborted: unknown;
    const s = await start(
      (_service, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener("abort", () => {
            aborted = ctx.signal.reason;
            reject(ctx.signal.reason as Error);
          }),
        ),
    );
    const r = await rawCall(s, [frame("x")], { "grpc-timeout": "50m" });
    expect(status(r)).toBe(String(Code.DeadlineExceeded));
    expect(seen!.timeoutMs()).toBeLessThanOrEqual(0);
    expect(ConnectError.from(aborted).code).toBe(Code.DeadlineExceeded);
  });

  it("aborts the handler's signal when the client cancels", async () => {
    let cancelled!: (reason: unknown) => void;
    const gotCancel = new Promise<unknown>((r) => (cancelled = r));
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    const s = await start((_service, ctx) => {
      ctx.signal.addEventListener("abort", () => cancelled(ctx.signal.reason));
      entered();
      return new Promise(() => {});
    });
    const req = s.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    req.on("error", () => {});
    req.end(frame("x"));
    await inHandler;
    req.close(http2.constants.NGHTTP2_CANCEL);
    expect(ConnectError.from(await gotCancel).code).toBe(Code.Canceled);
  });

  it("leaves other content types and unknown paths to connect-node", async () => {
    const s = await start(() => ({ status: Status.SERVING }));
    const r = await rawCall(s, [frame("x")], { ":path": "/nope.Service/Method" });
    // connect-node's answer for a path no router knows.
    expect(r.headers[":status"]).toBe(404);
    expect(fallbackHits).toBe(1);
    const json = await rawCall(s, [Buffer.from("{}")], { "content-type": "application/json", "connect-protocol-version": "1" });
    expect(json.headers[":status"]).toBe(404);
    expect(fallbackHits).toBe(2);
  });

  it("serves a grpc-js client calling a unit's unary method", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-fast-"));
    unit = await serveUnit({ name: "fast", env: { HSU_LISTEN: `unix:${dir}/u.sock` }, exitProcess: false, handleSignals: false, log: () => {} });
    const client = new grpc.Client(unit.address, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<{ status: Status }>((resolve, reject) =>
        client.makeUnaryRequest(
          path,
          (m: { service: string }) => Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, m))),
          (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
          { service },
          (err, res) => (err ? reject(err) : resolve(res!)),
        ),
      );
    try {
      expect((await check("")).status).toBe(Status.SERVING);
      const missing = await check("no.such.Service").catch((e: grpc.ServiceError) => e);
      expect((missing as grpc.ServiceError).code).toBe(grpc.status.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  it("counts fast-path calls for the drain: refuses new ones UNAVAILABLE, lets the one in flight finish", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-fast-"));
    let release!: () => void;
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    unit = await serveUnit({
      name: "fast",
      env: { HSU_LISTEN: `unix:${dir}/u.sock` },
      exitProcess: false,
      handleSignals: false,
      log: () => {},
      services: [
        unitService(Say, {
          hello: async (req) => {
            entered();
            await new Promise<void>((r) => (release = r));
            return { value: `hi ${req.value}` };
          },
        }),
      ],
    });
    const client = createClient(Say, createUnitTransport(unit.address));
    const first = client.hello({ value: "a" });
    await inHandler;
    const stopping = unit.shutdown(10_000, "test");
    const refused = ConnectError.from(await client.hello({ value: "b" }).catch((e: unknown) => e));
    expect(refused.code).toBe(Code.Unavailable);
    release();
    expect((await first).value).toBe("hi a");
    expect((await stopping).reason).toBe("test");
    unit = undefined;
  });

  it("aborts a call's signal when the shutdown deadline passes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-fast-"));
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    let reason: unknown;
    unit = await serveUnit({
      name: "fast",
      env: { HSU_LISTEN: `unix:${dir}/u.sock` },
      exitProcess: false,
      handleSignals: false,
      log: () => {},
      services: [
        unitService(Say, {
          hello: (_req, ctx) =>
            new Promise((_resolve, reject) => {
              ctx.signal.addEventListener("abort", () => reject((reason = ctx.signal.reason) as Error));
              entered();
            }),
        }),
      ],
    });
    const client = createClient(Say, createUnitTransport(unit.address));
    const call = client.hello({ value: "a" }).catch((e: unknown) => ConnectError.from(e));
    await inHandler;
    await unit.shutdown(50, "test");
    unit = undefined;
    expect(ConnectError.from(reason).code).toBe(Code.Unavailable);
    expect(((await call) as ConnectError).code).toBe(Code.Unavailable);
  });
});
