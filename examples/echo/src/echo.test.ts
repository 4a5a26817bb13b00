import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createRegistrar, launchUnit, type LaunchedUnit, type Registrar } from "@hsu/client";
import { HealthCheckResponse_ServingStatus as Status } from "@hsu/proto";
import { parseAddress } from "@hsu/transport";
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EchoRequestSchema, EchoService } from "./gen/hsu/examples/echo/v1/echo_pb.js";

const unitScript = fileURLToPath(new URL("./unit.ts", import.meta.url));
const root = fileURLToPath(new URL("../../../", import.meta.url));
let registrar: Registrar;
const launched: LaunchedUnit[] = [];

async function start(listen: "unix" | "tcp" = "unix", id = `echo-${launched.length}`): Promise<LaunchedUnit> {
  const unit = await launchUnit({
    id,
    command: process.execPath,
    args: ["--conditions=@hsu/source", unitScript],
    registrar,
    listen,
    stdio: "pipe",
  });
  launched.push(unit);
  return unit;
}

/** Whether the process still runs: a zombie has exited, it only waits for its parent (here a slow init) to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

beforeAll(async () => {
  registrar = await createRegistrar();
});
afterEach(async () => {
  for (const u of launched.splice(0)) {
    if (u.child.exitCode === null && u.child.signalCode === null) process.kill(-u.pid, "SIGKILL");
    await u.exited;
  }
});
afterAll(() => registrar.close());

describe("echo unit through the master library", () => {
  it.each(["unix", "tcp"] as const)("completes the handshake over %s and answers Echo", async (listen) => {
    const unit = await start(listen);
    const addr = parseAddress(unit.info.address);
    expect(addr.kind).toBe(listen);
    if (addr.kind === "tcp") expect(addr.port).toBeGreaterThan(0);
    expect(unit.info.pid).toBe(unit.pid);
    expect(unit.info.services).toEqual(
      expect.arrayContaining(["hsu.core.v1.CoreService", "grpc.health.v1.Health", "hsu.examples.echo.v1.EchoService"]),
    );
    const echo = createClient(EchoService, unit.client.transport);
    expect(await echo.echo({ message: "hi" })).toMatchObject({ message: "hi", unitId: unit.id });
    expect(await unit.client.ping()).toBe(unit.id);
  });

  it("reports NOT_SERVING on Watch while it drains, lets the call in flight finish, and exits 0", async () => {
    const unit = await start();
    const seen: Status[] = [];
    const watching = (async () => {
      for await (const r of unit.client.health.watch({ service: "" })) seen.push(r.status);
    })().catch(() => {});
    // The watch's first answer (the status now) before the drain begins: a stream's first call may still be loading its transport.
    for (const end = Date.now() + 10_000; seen.length === 0; ) {
      if (Date.now() > end) throw new Error("Watch sent no status within 10 s");
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await unit.client.serving()).toBe(true);
    const echo = createClient(EchoService, unit.client.transport);
    const inflight = echo.echo({ message: "slow", delayMs: 400 });
    // Wait until the call is really in flight before asking to stop.
    await new Promise((r) => setTimeout(r, 50));
    await unit.client.shutdown(3000);
    expect(await unit.client.serving().catch(() => false)).toBe(false);
    await expect(echo.echo({ message: "late" })).rejects.toMatchObject({ code: Code.Unavailable });
    expect((await inflight).message).toBe("slow");
    expect(await unit.exited).toEqual({ code: 0, signal: null });
    await watching;
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
    expect(existsSync(parseAddress(unit.info.address).kind === "unix" ? unit.info.address.slice(5) : "/")).toBe(false);
  });

  it("refuses Shutdown without the token or with a wrong one and keeps serving", async () => {
    const unit = await start();
    const { connectUnit } = await import("@hsu/client");
    const anonymous = connectUnit(unit.info.address);
    const impostor = connectUnit(unit.info.address, { token: "not-the-token" });
    await expect(anonymous.core.shutdown({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(impostor.core.shutdown({})).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(await unit.client.serving()).toBe(true);
    expect(await unit.client.ping()).toBe(unit.id);
  });

  it("exits 0 on SIGTERM", async () => {
    const unit = await start("tcp");
    process.kill(unit.pid, "SIGTERM");
    expect(await unit.exited).toEqual({ code: 0, signal: null });
  });

  it("lists every served service to a stock reflection client (grpcurl)", async () => {
    const grpcurl = (await promisify(execFile)("bash", [`${root}/scripts/tools/grpcurl.sh`])).stdout.trim();
    const unit = await start();
    // grpcurl takes HSU's address syntax as is (unix:/path).
    const target = unit.info.address;
    const run = (...args: string[]) => promisify(execFile)(grpcurl, ["-plaintext", ...args]);
    const list = (await run(target, "list")).stdout.trim().split("\n").sort();
    expect(list).toEqual([...unit.info.services].sort());
    const described = (await run(target, "describe", "hsu.examples.echo.v1.EchoService")).stdout;
    expect(described).toContain("rpc Echo ( .hsu.examples.echo.v1.EchoRequest )");
    const called = JSON.parse((await run("-d", '{"message":"via grpcurl"}', target, "hsu.examples.echo.v1.EchoService/Echo")).stdout);
    expect(called).toEqual({ message: "via grpcurl", unitId: unit.id });
  }, 300_000);

  it("answers malformed and oversized requests with a gRPC error and keeps serving", async () => {
    const unit = await start();
    const socket = parseAddress(unit.info.address);
    if (socket.kind !== "unix") throw new Error("expected a unix socket");
    const session = http2.connect("http://localhost", { createConnection: () => net.connect(socket.path) });
    const status = await new Promise<string | undefined>((resolve, reject) => {
      const req = session.request({
        ":method": "POST",
        ":path": "/hsu.examples.echo.v1.EchoService/Echo",
        "content-type": "application/grpc",
        te: "trailers",
      });
      // A gRPC frame whose payload is not a valid EchoRequest.
      const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, garbage.length]), garbage]);
      let grpcStatus: string | undefined;
      req.on("response", (h) => (grpcStatus = h["grpc-status"] as string | undefined));
      req.on("trailers", (t) => (grpcStatus = t["grpc-status"] as string | undefined));
      req.on("end", () => resolve(grpcStatus));
      req.on("error", reject);
      req.resume();
      req.end(frame);
    });
    session.close();
    expect(status).toBeDefined();
    expect(status).not.toBe("0");
    const echo = createClient(EchoService, unit.client.transport);
    const big = "x".repeat(5 * 1024 * 1024);
    expect(toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: big })).length).toBeGreaterThan(4 * 1024 * 1024);
    const err = await echo.echo({ message: big }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
    expect(await unit.client.ping()).toBe(unit.id);
    expect((await echo.echo({ message: "still here" })).message).toBe("still here");
  });

  it("exits by itself within 2 s when its master is SIGKILLed", async () => {
    const master = spawn(process.execPath, ["--conditions=@hsu/source", fileURLToPath(new URL("./test-fixtures/hold-master.ts", import.meta.url))], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const unitPid = await new Promise<number>((resolve, reject) => {
      master.stdout.setEncoding("utf8").once("data", (d: string) => resolve(Number(d.trim())));
      master.once("exit", (c) => reject(new Error(`master exited early (${c})`)));
    });
    expect(alive(unitPid)).toBe(true);
    master.kill("SIGKILL");
    const killedAt = Date.now();
    while (alive(unitPid) && Date.now() - killedAt < 2000) await new Promise((r) => setTimeout(r, 20));
    const stillAlive = alive(unitPid);
    if (stillAlive) process.kill(unitPid, "SIGKILL");
    expect(stillAlive).toBe(false);
  });
});
