import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "@hsu/proto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer as createH2Server, type Http2Server, type ServerHttp2Session } from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHealthMonitor } from "./monitor.ts";
import { createProbe } from "./probes/index.ts";
import { runHealthCheck } from "./run.ts";
import { validateHealthCheckSpec } from "./validate.ts";

const where = { unit: "g", field: "health" };
let dir: string;
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hsu-grpc-"));
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await rm(dir, { recursive: true, force: true });
});

/** A real grpc.health.v1 server (Check only) whose statuses the test flips; counts connections. */
async function startHealthServer(at: { port: 0 } | { path: string }) {
  const statuses = new Map<string, HealthCheckResponse_ServingStatus>([["", HealthCheckResponse_ServingStatus.SERVING]]);
  const handler = connectNodeAdapter({
    routes: (router) =>
      router.rpc(Health.method.check, (req) => {
        const status = statuses.get(req.service);
        if (status === undefined) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
        return create(HealthCheckResponseSchema, { status });
      }),
  });
  const server: Http2Server = createH2Server(handler);
  const sessions = new Set<ServerHttp2Session>();
  let connections = 0;
  server.on("connection", () => connections++);
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.listen("path" in at ? { path: at.path } : { host: "127.0.0.1", port: 0 });
  await once(server, "listening");
  const close = async (): Promise<void> => {
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A probe's open HTTP/2 session would keep close() waiting.
    for (const session of sessions) session.destroy();
    await closed;
  };
  cleanups.push(close);
  const port = "path" in at ? 0 : (server.address() as { port: number }).port;
  return { statuses, port, close, connections: () => connections };
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("grpc check (real grpc.health.v1)", () => {
  it("follows SERVING / NOT_SERVING over TCP and reuses one connection per probe", async () => {
    const h = await startHealthServer({ port: 0 });
    const spec = validateHealthCheckSpec({ type: "grpc", address: `127.0.0.1:${h.port}`, timeoutMs: 2000 }, where);
    const probe = createProbe(spec, { pid: 0 });
    cleanups.push(() => probe.close());
    const run = () => probe.run(AbortSignal.timeout(2000));
    expect(await run()).toMatchObject({ ok: true, detail: expect.stringMatching(/SERVING/) });
    h.statuses.set("", HealthCheckResponse_ServingStatus.NOT_SERVING);
    expect(await run()).toMatchObject({ ok: false, detail: expect.stringMatching(/NOT_SERVING/) });
    h.statuses.set("", HealthCheckResponse_ServingStatus.SERVING);
    expect(await run()).toMatchObject({ ok: true });
    expect(h.connections()).toBe(1);
  });

  it("asks about a named service and fails for one the server does not know", async () => {
    const h = await startHealthServer({ port: 0 });
    h.statuses.set("shop.v1.Cart", HealthCheckResponse_ServingStatus.NOT_SERVING);
    const spec = (service: string) => validateHealthCheckSpec({ type: "grpc", address: `127.0.0.1:${h.port}`, service }, where);
    expect(await runHealthCheck(spec("shop.v1.Cart"), { pid: 0 })).toMatchObject({ ok: false, detail: expect.stringMatching(/NOT_SERVING/) });
    h.statuses.set("shop.v1.Cart", HealthCheckResponse_ServingStatus.SERVING);
    expect(await runHealthCheck(spec("shop.v1.Cart"), { pid: 0 })).toMatchObject({ ok: true });
    expect(await runHealthCheck(spec("nope.v1.X"), { pid: 0 })).toMatchObject({ ok: false, detail: expect.stringMatching(/NotFound/) });
    // An answer from the server (even NotFound) keeps the probe's connection; only transport failures replace it.
    const probe = createProbe(spec("nope.v1.X"), { pid: 0 });
    cleanups.push(() => probe.close());
    const before = h.connections();
    for (let i = 0; i < 3; i++) expect(await probe.run(AbortSignal.timeout(2000))).toMatchObject({ ok: false });
    expect(h.connections()).toBe(before + 1);
  });

  it("works over a Unix socket, including after the server restarts", async () => {
    const path = join(dir, "h.sock");
    const first = await startHealthServer({ path });
    const spec = validateHealthCheckSpec({ type: "grpc", address: `unix:${path}`, timeoutMs: 2000 }, where);
    const probe = createProbe(spec, { pid: 0 });
    cleanups.push(() => probe.close());
    const run = () => probe.run(AbortSignal.timeout(2000));
    expect(await run()).toMatchObject({ ok: true });
    await first.close();
    expect(await run()).toMatchObject({ ok: false });
    const second = await startHealthServer({ path });
    second.statuses.set("", HealthCheckResponse_ServingStatus.NOT_SERVING);
    expect(await run()).toMatchObject({ ok: false, detail: expect.stringMatching(/NOT_SERVING/) });
    second.statuses.set("", HealthCheckResponse_ServingStatus.SERVING);
    expect(await run()).toMatchObject({ ok: true });
  });

  it("a listener that accepts TCP but does not speak gRPC is unhealthy (not a port dial) and no socket leaks", async () => {
    let open = 0;
    const track = (s: Socket) => {
      open++;
      s.on("error", () => undefined); // the probe resets its socket
      s.once("close", () => open--);
    };
    const silent: NetServer = createNetServer((s) => track(s));
    const chatty: NetServer = createNetServer((s) => {
      track(s);
      s.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    });
    for (const srv of [silent, chatty]) {
      srv.listen({ host: "127.0.0.1", port: 0 });
      await once(srv, "listening");
      cleanups.push(() => new Promise((r) => srv.close(r)));
    }
    for (const srv of [silent, chatty]) {
      const { port } = srv.address() as { port: number };
      const tcp = validateHealthCheckSpec({ type: "tcp", port }, where);
      expect(await runHealthCheck(tcp, { pid: 0 })).toMatchObject({ ok: true }); // a port dial would pass
      const grpc = validateHealthCheckSpec({ type: "grpc", address: `127.0.0.1:${port}`, timeoutMs: 500 }, where);
      expect(await runHealthCheck(grpc, { pid: 0 })).toMatchObject({ ok: false });
      await until(() => open === 0, "the probe's connections to close");
    }
  });

  it("drives a monitor (real clock) from healthy to unhealthy and back", async () => {
    const h = await startHealthServer({ port: 0 });
    const spec = validateHealthCheckSpec(
      { type: "grpc", address: `127.0.0.1:${h.port}`, intervalMs: 20, timeoutMs: 2000, failureThreshold: 2, successThreshold: 2 },
      where,
    );
    const monitor = createHealthMonitor(spec, { pid: 0 });
    cleanups.push(() => monitor.stop());
    const next = () => new Promise<string>((resolve) => {
      const off = monitor.onChange((s, d) => {
        off();
        resolve(`${s}: ${d}`);
      });
    });
    const healthy = next();
    monitor.start();
    expect(await healthy).toMatch(/^healthy: .*SERVING/);
    const unhealthy = next();
    h.statuses.set("", HealthCheckResponse_ServingStatus.NOT_SERVING);
    expect(await unhealthy).toMatch(/^unhealthy: .*NOT_SERVING/);
    const back = next();
    h.statuses.set("", HealthCheckResponse_ServingStatus.SERVING);
    expect(await back).toMatch(/^healthy/);
    monitor.stop();
    expect(h.connections()).toBe(1);
  });
});
