import { create, fromBinary, toBinary, toJson, type DescMethod, type FileRegistry } from "@bufbuild/protobuf";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildRegistry } from "../../testdata/descriptors.ts";
import type { CallContext, CallError, ProtocolContext, RoutedService, StreamResult, UnaryResult, Upstream } from "../protocol.ts";
import { httpStatusFromCode } from "./errors.ts";
import { restProtocol } from "./protocol.ts";
import { buildRoutes } from "./routes.ts";

interface Recorded {
  readonly unit: string;
  readonly method: string;
  readonly request: unknown;
  readonly meta: CallContext;
}

/** What the fake unit does for a call: a response message (as init), an error, or for streams several messages then an end. */
type Script =
  | { kind: "ok"; message: Record<string, unknown>; headers?: Record<string, string> }
  | { kind: "error"; error: CallError }
  | { kind: "stream"; messages: Record<string, unknown>[]; error?: CallError; waitForAbort?: boolean };

/** An in-process Upstream that decodes what it is sent and answers from a script. */
class FakeUpstream implements Upstream {
  calls: Recorded[] = [];
  script: Script = { kind: "ok", message: {} };
  aborted = false;

  private record(unit: string, method: DescMethod, request: Uint8Array, meta: CallContext): void {
    this.calls.push({ unit, method: method.name, request: toJson(method.input, fromBinary(method.input, request)), meta });
  }

  async unary(unit: string, method: DescMethod, request: Uint8Array, meta: CallContext): Promise<UnaryResult> {
    this.record(unit, method, request, meta);
    const s = this.script;
    if (s.kind === "error") return { ok: false, error: s.error, headers: {}, trailers: {} };
    if (s.kind !== "ok") throw new Error("not a unary script");
    return { ok: true, message: toBinary(method.output, create(method.output, s.message as never)), headers: s.headers ?? {}, trailers: {} };
  }

  async serverStream(
    unit: string,
    method: DescMethod,
    request: Uint8Array,
    meta: CallContext,
    onMessage: (m: Uint8Array) => void | Promise<void>,
  ): Promise<StreamResult> {
    this.record(unit, method, request, meta);
    const s = this.script;
    if (s.kind === "error") return { ok: false, error: s.error, headers: {}, trailers: {} };
    if (s.kind !== "stream") throw new Error("not a stream script");
    for (const m of s.messages) {
      // `{ garbage: true }` stands for bytes that are not the output message.
      await onMessage("garbage" in m ? new Uint8Array([0xff, 0xff, 0xff]) : toBinary(method.output, create(method.output, m as never)));
    }
    if (s.waitForAbort) {
      await new Promise<void>((resolve) => {
        if (meta.signal.aborted) resolve();
        meta.signal.addEventListener("abort", () => resolve());
        setTimeout(resolve, 10_000).unref();
      });
      this.aborted = meta.signal.aborted;
    }
    if (s.error !== undefined) return { ok: false, error: s.error, headers: {}, trailers: {} };
    return { ok: true, headers: {}, trailers: {} };
  }
}

let reg: FileRegistry;
let upstream: FakeUpstream;
let server: http.Server;
let h2server: http2.Http2Server;
let base: string;
let h2base: string;

beforeAll(async () => {
  reg = buildRegistry("rest");
  const service = reg.getService("hsu.gwtest.v1.LibraryService")!;
  const services: RoutedService[] = [
    { unit: "lib", service, prefix: "/lib", auth: "required" },
    { unit: "lib-open", service, prefix: "/open", auth: "none" },
  ];
  upstream = new FakeUpstream();
  const ctx: ProtocolContext = {
    upstream,
    registry: reg,
    services,
    maxBodyBytes: 1024,
    callContext: (req, signal) => ({
      metadata: {},
      ...(typeof req.headers.authorization === "string" ? { authorization: req.headers.authorization } : {}),
      clientAddress: req.socket.remoteAddress ?? "",
      signal,
      timeoutMs: 5000,
    }),
  };
  const rest = restProtocol({ table: buildRoutes(services) });
  const handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
    void rest.handle(req, res, ctx).then((handled) => {
      if (!handled) {
        const r = res as http.ServerResponse;
        r.writeHead(404, { "content-type": "text/plain" });
        r.end("not rest");
      }
    });
  };
  server = http.createServer(handler);
  h2server = http2.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  await new Promise<void>((r) => h2server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h2base = `http://127.0.0.1:${(h2server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await new Promise((r) => h2server.close(r));
});

beforeEach(() => {
  upstream.calls = [];
  upstream.script = { kind: "ok", message: {} };
  upstream.aborted = false;
});

const AUTH = { authorization: "Bearer t0k" };

/** One HTTP/1.1 request with the path sent verbatim (fetch would normalize "%2e" and refuse a body on GET). */
async function call(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) {
  const url = new URL(base);
  return new Promise<{ status: number; headers: Headers; text: string; json: () => any }>((resolve, reject) => {
    // Node sends a GET body without framing unless told its length.
    const length = init.body === undefined ? {} : { "content-length": String(Buffer.byteLength(init.body)) };
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers: { ...length, ...init.headers }, timeout: 10_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.set(k, v);
        resolve({ status: res.statusCode ?? 0, headers, text, json: () => JSON.parse(text) });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on("error", reject);
    req.end(init.body);
  });
}

describe("restProtocol unary", () => {
  it("transcodes a GET, calls the unit and answers proto3 JSON with unit headers as Grpc-Metadata-*", async () => {
    upstream.script = { kind: "ok", message: { name: "shelves/s1/books/b1", title: "Dune", pages: 412n }, headers: { "x-trace": "abc", "hsu-internal": "no" } };
    const r = await call("GET", "/lib/v1/shelves/s1/books/b1?readMask=title", { headers: AUTH });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.headers.get("grpc-metadata-x-trace")).toBe("abc");
    expect(r.headers.get("grpc-metadata-hsu-internal")).toBeNull();
    expect(r.json()).toMatchObject({ name: "shelves/s1/books/b1", title: "Dune", pages: "412", genre: "GENRE_UNSPECIFIED", tags: [] });
    expect(upstream.calls).toHaveLength(1);
    expect(upstream.calls[0]).toMatchObject({ unit: "lib", method: "GetBook", request: { name: "shelves/s1/books/b1", readMask: "title" } });
    expect(upstream.calls[0]!.meta.authorization).toBe("Bearer t0k");
  });

  it("sends the body per the rule and answers response_body alone", async () => {
    upstream.script = { kind: "ok", message: { title: "x" } };
    const r = await call("POST", "/open/v1/shelves/s1/books?bookId=7", { body: '{"title":"x","tags":["a"]}', headers: { "content-type": "application/json" } });
    expect(r.status).toBe(200);
    expect(upstream.calls[0]).toMatchObject({ unit: "lib-open", method: "CreateBook", request: { parent: "shelves/s1", bookId: "7", book: { title: "x", tags: ["a"] } } });
    upstream.script = { kind: "ok", message: { books: [{ title: "a" }, { title: "b" }], nextPageToken: "n" } };
    const t = await call("GET", "/open/v1/shelves/s1/titles");
    expect(t.json().map((b: { title: string }) => b.title)).toEqual(["a", "b"]);
  });

  it("matches an absolute-form request target by its path", async () => {
    upstream.script = { kind: "ok", message: { title: "abs" } };
    const r = await call("GET", `${base}/open/v1/books/b3?readMask=title`);
    expect(r.status).toBe(200);
    expect(upstream.calls[0]).toMatchObject({ request: { name: "b3", readMask: "title" } });
  });

  it("answers HEAD on a custom rule", async () => {
    const r = await call("HEAD", "/open/v1/check/b1");
    expect(r.status).toBe(200);
    expect(upstream.calls[0]).toMatchObject({ method: "CheckBook", request: { name: "b1" } });
  });

  it.each([
    [1, 499],
    [3, 400],
    [4, 504],
    [5, 404],
    [6, 409],
    [7, 403],
    [8, 429],
    [12, 501],
    [14, 503],
    [16, 401],
  ])("maps the unit's gRPC code %i to HTTP %i with a google.rpc.Status body", async (code, status) => {
    upstream.script = { kind: "error", error: { code, message: `failed with ${code}` } };
    const r = await call("GET", "/open/v1/books/b1");
    expect(r.status).toBe(status);
    expect(r.json()).toEqual({ code, message: `failed with ${code}`, details: [] });
    if (code === 16) expect(r.headers.get("www-authenticate")).toContain("Bearer");
  });

  it("refuses a call without credentials on an auth: required route with 401 before calling the unit", async () => {
    const r = await call("GET", "/lib/v1/books/b1");
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toBe('Bearer realm="hsu"');
    expect(r.json()).toMatchObject({ code: 16, message: expect.stringContaining("send an Authorization header") });
    expect(upstream.calls).toHaveLength(0);
  });

  it("leaves paths no route has to the next protocol, and answers 405 with Allow", async () => {
    expect(await call("POST", "/hsu.gwtest.v1.LibraryService/GetBook")).toMatchObject({ status: 404, text: "not rest" });
    const r = await call("POST", "/open/v1/books/b1");
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("GET");
    expect(r.json()).toMatchObject({ code: 12 });
  });

  it.each([
    ["GET", "/open/v1/books/..%2F..%2Fetc", undefined, 200],
    ["GET", "/open/v1/shelves/s1/books/..", undefined, 400],
    ["GET", "/open/v1/shelves/%2e/books/b1", undefined, 400],
    ["GET", "/open/v1//books/b1", undefined, 400],
    ["GET", "/open/v1/books/a%00b", undefined, 400],
    ["GET", `/open/v1/books/${"x".repeat(9000)}`, undefined, 414],
    ["GET", "/open/v1/books/b1", "{}", 400],
    ["GET", "/open/v1/shelves/s1/books?pageSize=99999999999", undefined, 400],
    ["GET", "/open/v1/shelves/s1/books?pageSize=1&pageSize=2", undefined, 400],
    ["POST", "/open/v1/shelves/s1/books", "{nope", 400],
    ["POST", "/open/v1/shelves/s1/books", `${"[".repeat(500)}${"]".repeat(500)}`, 400],
    ["POST", "/open/v1/shelves/s1/books", "x".repeat(2000), 413],
  ])("hostile request %# (%s): a clear error, nothing reaches the unit unless it is 200", async (method, path, body, status) => {
    const r = await call(method, path, { ...(body === undefined ? {} : { body }), headers: { "content-type": "application/json" } });
    expect(r.status).toBe(status);
    if (status !== 200) {
      expect(r.json()).toMatchObject({ code: expect.any(Number), message: expect.any(String), details: [] });
      expect(upstream.calls).toHaveLength(0);
    } else {
      // An encoded "/" is data in a single-segment variable, not a separator.
      expect(upstream.calls[0]!.request).toEqual({ name: "../../etc" });
    }
  });

  it("cuts off a chunked body that grows past the limit with 413", async () => {
    const chunk = new TextEncoder().encode(`{"title":"${"y".repeat(600)}`);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(chunk);
        c.enqueue(chunk);
        c.close();
      },
    });
    const res = await fetch(`${base}/open/v1/shelves/s1/books`, { method: "POST", body, duplex: "half", signal: AbortSignal.timeout(10_000) } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 8, message: expect.stringContaining("larger than the limit of 1024 bytes") });
    expect(upstream.calls).toHaveLength(0);
  });

  it("serves HTTP/2 through the compat API too", async () => {
    upstream.script = { kind: "ok", message: { title: "h2" } };
    const session = http2.connect(h2base);
    try {
      const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const s = session.request({ ":method": "GET", ":path": "/open/v1/books/b2" });
        let status = 0;
        let text = "";
        s.on("response", (h) => (status = Number(h[":status"])));
        s.setEncoding("utf8");
        s.on("data", (d: string) => (text += d));
        s.on("end", () => resolve({ status, text }));
        s.on("error", reject);
      });
      expect(status).toBe(200);
      expect(JSON.parse(text)).toMatchObject({ title: "h2" });
    } finally {
      session.close();
    }
  });
});

describe("restProtocol server streaming", () => {
  it("answers NDJSON by default", async () => {
    upstream.script = { kind: "stream", messages: [{ title: "a" }, { title: "b" }, { title: "c" }] };
    const r = await call("GET", "/open/v1/shelves/s1/books:watch?count=3");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = r.text.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.result.title)).toEqual(["a", "b", "c"]);
    expect(upstream.calls[0]).toMatchObject({ method: "WatchBooks", request: { parent: "shelves/s1", count: 3 } });
  });

  it("answers SSE with Accept: text/event-stream", async () => {
    upstream.script = { kind: "stream", messages: [{ title: "a" }, { title: "b" }] };
    const r = await call("GET", "/open/v1/shelves/s1/books:watch", { headers: { accept: "text/event-stream" } });
    expect(r.headers.get("content-type")).toBe("text/event-stream");
    const events = r.text.split("\n\n").filter((e) => e !== "");
    expect(events).toHaveLength(2);
    expect(events[0]).toMatch(/^event: message\ndata: \{.*"title":"a"/);
  });

  it("ends a stream that fails midway with an error line / event, and one that fails at once with the HTTP status", async () => {
    upstream.script = { kind: "stream", messages: [{ title: "a" }], error: { code: 14, message: "unit went away" } };
    const nd = await call("GET", "/open/v1/shelves/s1/books:watch");
    const lines = nd.text.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toEqual([{ result: expect.objectContaining({ title: "a" }) }, { error: { code: 14, message: "unit went away", details: [] } }]);
    const sse = await call("GET", "/open/v1/shelves/s1/books:watch", { headers: { accept: "text/event-stream" } });
    expect(sse.text).toContain('event: error\ndata: {"code":14,"message":"unit went away","details":[]}');
    upstream.script = { kind: "stream", messages: [], error: { code: 7, message: "no" } };
    const early = await call("GET", "/open/v1/shelves/s1/books:watch");
    expect(early.status).toBe(403);
    expect(early.json()).toEqual({ code: 7, message: "no", details: [] });
  });

  it("ends the stream with an error entry when a message from the unit cannot be decoded", async () => {
    upstream.script = { kind: "stream", messages: [{ title: "a" }, { garbage: true }] };
    const r = await call("GET", "/open/v1/shelves/s1/books:watch");
    const lines = r.text.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[1].error).toMatchObject({ code: 13, message: expect.stringContaining("not a hsu.gwtest.v1.Book") });
  });

  it("aborts the upstream call when the client goes away", async () => {
    upstream.script = { kind: "stream", messages: [{ title: "a" }], waitForAbort: true };
    const ac = new AbortController();
    const res = await fetch(`${base}/open/v1/shelves/s1/books:watch`, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    const deadline = Date.now() + 10_000;
    while (!upstream.aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(upstream.aborted).toBe(true);
  });
});

describe("httpStatusFromCode", () => {
  it("is the grpc-gateway table", () => {
    expect(Array.from({ length: 17 }, (_, c) => httpStatusFromCode(c))).toEqual([200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401]);
    expect(httpStatusFromCode(99)).toBe(500);
  });
});

describe("restProtocol without a prebuilt table", () => {
  it("builds the routes from ctx.services on the first request; a bad annotation is a 500 naming it; notFound: answer gives a JSON 404", async () => {
    const bad = buildRegistry("rest-bad");
    const ctxOf = (services: RoutedService[]): ProtocolContext => ({
      upstream,
      registry: bad,
      services,
      maxBodyBytes: 1024,
      callContext: (req, signal) => ({ metadata: {}, clientAddress: "", signal, timeoutMs: 1000 }),
    });
    const good = ctxOf([{ unit: "u", service: bad.getService("hsu.gwbad.v1.NestedBindingService")!, prefix: "", auth: "none" }]);
    const broken = ctxOf([{ unit: "u", service: bad.getService("hsu.gwbad.v1.UnknownFieldService")!, prefix: "", auth: "none" }]);
    const rest = restProtocol({ notFound: "answer" });
    const srv = http.createServer((req, res) => {
      void rest.handle(req, res, req.headers["x-ctx"] === "broken" ? broken : good);
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      // NestedBindingService itself is refused (nested additional_bindings).
      const r1 = await fetch(`${url}/v1/nested/x`, { headers: { "x-ctx": "broken" } });
      expect(r1.status).toBe(500);
      expect(((await r1.json()) as { message: string }).message).toContain('"nope" is not a field of hsu.gwbad.v1.Req');
      const r2 = await fetch(`${url}/v1/nothing-here`);
      expect(r2.status).toBe(500);
      expect(((await r2.json()) as { message: string }).message).toContain("additional bindings cannot have their own additional_bindings");
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
    const okRest = restProtocol({ notFound: "answer" });
    const srv2 = http.createServer((req, res) => void okRest.handle(req, res, { ...good, services: [{ unit: "u", service: reg.getService("hsu.gwtest.v1.LibraryService")!, prefix: "", auth: "none" }] }));
    await new Promise<void>((r) => srv2.listen(0, "127.0.0.1", r));
    try {
      const r3 = await fetch(`http://127.0.0.1:${(srv2.address() as AddressInfo).port}/v9/none`);
      expect(r3.status).toBe(404);
      expect(await r3.json()).toEqual({ code: 5, message: "no REST route has the path /v9/none", details: [] });
    } finally {
      srv2.closeAllConnections();
      await new Promise((r) => srv2.close(r));
    }
  });
});
