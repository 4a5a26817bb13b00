import { describe, expect, it } from "vitest";
import { corsDecision } from "./cors.ts";
import { createRateLimiter } from "./rate-limit.ts";
import { unsafePath } from "./server.ts";
import { ndjsonLine, sseEvent, streamFormatOf } from "./stream-writers.ts";

describe("rate limiter", () => {
  it("allows a burst, refuses past it with the wait, refills with time", () => {
    let now = 0;
    const rl = createRateLimiter({ requests: 10, perMs: 1000, burst: 3, now: () => now });
    expect([rl.take("a"), rl.take("a"), rl.take("a")].every((v) => v.ok)).toBe(true);
    const no = rl.take("a");
    expect(no).toEqual({ ok: false, retryAfterMs: 100 });
    expect(rl.take("b").ok).toBe(true);
    now = 100;
    expect(rl.take("a").ok).toBe(true);
    expect(rl.take("a").ok).toBe(false);
  });

  it("remembers a bounded number of clients, however many come", () => {
    const rl = createRateLimiter({ requests: 1, perMs: 1000, burst: 1, maxClients: 1000, now: () => 0 });
    for (let i = 0; i < 50_000; i++) rl.take(`10.0.${i >> 8}.${i & 255}`);
    expect(rl.size).toBe(1000);
  });
});

describe("CORS", () => {
  const cors = { origins: ["http://app.test"], headers: ["x-trace"], maxAgeMs: 600_000 };
  it("answers an allowed preflight with methods, headers and max-age", () => {
    const d = corsDecision(cors, "OPTIONS", { origin: "http://app.test", "access-control-request-method": "POST", "access-control-request-headers": "Content-Type, X-Trace" });
    expect(d.preflight).toBe("allowed");
    expect(d.headers["access-control-allow-origin"]).toBe("http://app.test");
    expect(d.headers["access-control-max-age"]).toBe("600");
    expect(d.headers["access-control-allow-headers"]).toMatch(/x-trace/);
  });
  it("refuses another origin, an unlisted header, and any preflight without cors:", () => {
    expect(corsDecision(cors, "OPTIONS", { origin: "http://evil.test", "access-control-request-method": "POST" }).preflight).toBe("denied");
    expect(corsDecision(cors, "OPTIONS", { origin: "http://app.test", "access-control-request-method": "POST", "access-control-request-headers": "x-other" }).reason).toMatch(/x-other/);
    expect(corsDecision(undefined, "OPTIONS", { origin: "http://app.test", "access-control-request-method": "POST" }).preflight).toBe("denied");
  });
  it("exposes the gRPC status headers on an actual request", () => {
    expect(corsDecision(cors, "POST", { origin: "http://app.test" }).headers["access-control-expose-headers"]).toMatch(/grpc-status, grpc-message/);
    expect(corsDecision(cors, "POST", { origin: "http://evil.test" }).headers["access-control-allow-origin"]).toBeUndefined();
  });
});

describe("unsafePath", () => {
  it.each(["/a/../b", "/a/./b", "//a", "/a//b", "/%2e%2e/a", "/a%2Fb", "/a%5cb", "/a\\b", "http://x/a", "/a/.."])("refuses %s", (p) => {
    expect(unsafePath(p)).toBeDefined();
  });
  it.each(["/pkg.v1.S/M", "/echo/pkg.v1.S/M?message=%2e%2e", "/healthz", "/a.b/c"])("passes %s", (p) => {
    expect(unsafePath(p)).toBeUndefined();
  });
});

describe("stream writers", () => {
  it("picks the format from Accept", () => {
    expect(streamFormatOf("application/x-ndjson")).toBe("ndjson");
    expect(streamFormatOf("text/event-stream, */*")).toBe("sse");
    expect(streamFormatOf("application/json")).toBeUndefined();
  });
  it("writes one JSON message per line and per SSE event, even with newlines inside", () => {
    expect(ndjsonLine({ a: "x\ny" })).toBe('{"a":"x\\ny"}\n');
    expect(sseEvent({ a: "x\ny" })).toBe('data: {"a":"x\\ny"}\n\n');
    expect(sseEvent({ code: "internal" }, "error")).toBe('event: error\ndata: {"code":"internal"}\n\n');
  });
});
