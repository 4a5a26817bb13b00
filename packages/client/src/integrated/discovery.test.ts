import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { createRegistrar } from "../core/registrar.ts";
import { HsuError } from "../errors.ts";
import { discoverUnit, discoverUnits, scanSocketDir } from "./discovery.ts";
import { alive, echoCommand } from "./test-support/echo.ts";

// Units started by hand (standalone: HSU_LISTEN, no HSU_MASTER_ADDR), as an
// operator or another master would, then found by address.
interface Standalone {
  child: ChildProcess;
  address: string;
  exited: Promise<unknown[]>;
}

const children: ChildProcess[] = [];
const closers: (() => Promise<void> | void)[] = [];
const dir = mkdtempSync(join(tmpdir(), "hsu-disc-"));

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      process.kill(-c.pid!, "SIGKILL");
      await once(c, "exit");
    }
  }
  for (const close of closers.splice(0)) await close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the echo unit standalone and resolves once it logs the address it serves on. */
async function startStandalone(listen: string, unitId: string, token?: string): Promise<Standalone> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), HSU_LISTEN: listen, HSU_UNIT_ID: unitId };
  delete env.HSU_MASTER_ADDR;
  delete env.HSU_MASTER_PID;
  delete env.HSU_TOKEN;
  if (token) env.HSU_TOKEN = token;
  const child = spawn(echoCommand.command, echoCommand.args, { env, detached: true, stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  const exited = once(child, "exit");
  const address = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      text += d;
      const m = / serving on (\S+)/.exec(text);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`the standalone unit exited before serving: ${text}`)));
  });
  return { child, address, exited };
}

describe("discovering units the master did not start", () => {
  it.each([
    ["TCP", () => "127.0.0.1:0"],
    ["a Unix socket", () => `unix:${join(dir, "tcp-or-unix.sock")}`],
  ])("finds an echo unit over %s, lists its services, calls it, and does not stop it", async (_, listen) => {
    const unit = await startStandalone(listen(), "standalone-echo");
    const found = await discoverUnit({ address: unit.address });
    closers.push(() => found.close());
    expect(found.info.unitId).toBe("standalone-echo");
    expect(found.info.pid).toBe(unit.child.pid);
    expect(found.services).toEqual(
      expect.arrayContaining(["hsu.core.v1.CoreService", "grpc.health.v1.Health", "hsu.examples.echo.v1.EchoService"]),
    );
    expect(found.managed).toBe(false);
    expect(await found.client(EchoService).echo({ message: "found you" })).toMatchObject({
      message: "found you",
      unitId: "standalone-echo",
    });
    const refused = await found.stop().catch((e: unknown) => e);
    expect(HsuError.is(refused, "permission_denied")).toBe(true);
    expect((refused as Error).message).toContain("manage: true");
    expect(await found.serving()).toBe(true);
    expect(alive(unit.child.pid!)).toBe(true);
  });

  it("stops a discovered unit only with manage: true and its token", async () => {
    const unit = await startStandalone(`unix:${join(dir, "managed.sock")}`, "managed-echo", "s3cret");
    const noToken = await discoverUnit({ address: unit.address, manage: true });
    expect(noToken.managed).toBe(false);
    expect(HsuError.is(await noToken.stop().catch((e: unknown) => e), "permission_denied")).toBe(true);
    noToken.close();
    const managed = await discoverUnit({ address: unit.address, manage: true, token: "s3cret" });
    closers.push(() => managed.close());
    expect(managed.managed).toBe(true);
    await managed.stop(2000);
    const [code] = await unit.exited;
    expect(code).toBe(0);
  });

  it("reports a non-gRPC listener, a gRPC server without health, and a closed port as not units", async () => {
    const http1 = http.createServer((_, res) => res.end("hello, I am a web page\n"));
    await new Promise<void>((r) => http1.listen(0, "127.0.0.1", r));
    closers.push(() => new Promise<void>((r) => http1.close(() => r())));
    // Reads and discards what it is sent, and never answers.
    const silent = net.createServer((s) => s.on("error", () => {}).resume());
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    closers.push(() => new Promise<void>((r) => silent.close(() => r())));
    const registrar = await createRegistrar();
    closers.push(() => registrar.close());
    const closedPort = await freePort();
    const httpAddr = `127.0.0.1:${(http1.address() as net.AddressInfo).port}`;
    const silentAddr = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const results = await discoverUnits([httpAddr, silentAddr, registrar.address, `127.0.0.1:${closedPort}`], { timeoutMs: 1000 });
    expect(results.map((r) => (r.found ? "unit" : r.reason))).toEqual(["not_a_unit", "not_a_unit", "not_a_unit", "unreachable"]);
    const [web, , grpcOnly, closed] = results.map((r) => (r.found ? undefined : r.error));
    expect(web?.message).toContain(`${httpAddr}: it accepted a connection but did not answer a gRPC health Check`);
    expect(web?.code).toBe("failed_precondition");
    expect(grpcOnly?.message).toContain("does not serve grpc.health.v1.Health");
    expect(closed?.message).toContain("ECONNREFUSED");
    expect(closed?.code).toBe("unavailable");
    await expect(discoverUnit({ address: httpAddr, timeoutMs: 1000 })).rejects.toMatchObject({ code: "failed_precondition" });
  });

  it("scans a directory of sockets and tells units from everything else", async () => {
    const scanDir = mkdtempSync(join(tmpdir(), "hsu-scan-"));
    closers.push(() => rmSync(scanDir, { recursive: true, force: true }));
    const a = await startStandalone(`unix:${join(scanDir, "a.sock")}`, "unit-a");
    const b = await startStandalone(`unix:${join(scanDir, "b.sock")}`, "unit-b");
    const raw = net.createServer((s) => s.on("error", () => {}).resume().end("not http/2\n"));
    await new Promise<void>((r) => raw.listen(join(scanDir, "c.sock"), r));
    closers.push(() => new Promise<void>((r) => raw.close(() => r())));
    writeFileSync(join(scanDir, "d.sock"), "a regular file, left behind\n");
    writeFileSync(join(scanDir, "notes.txt"), "ignored: not *.sock\n");
    // A socket file nobody listens on any more (its owner was killed).
    const killed = await startStandalone(`unix:${join(scanDir, "e.sock")}`, "unit-e");
    process.kill(-killed.child.pid!, "SIGKILL");
    await killed.exited;
    expect(existsSync(join(scanDir, "e.sock"))).toBe(true);
    const results = await scanSocketDir(scanDir, { timeoutMs: 1000 });
    const summary = results.map((r) => [r.address.slice(r.address.lastIndexOf("/") + 1), r.found ? r.unit.info.unitId : r.reason]);
    expect(summary).toEqual([
      ["a.sock", "unit-a"],
      ["b.sock", "unit-b"],
      ["c.sock", "not_a_unit"],
      ["d.sock", "not_a_unit"],
      ["e.sock", "unreachable"],
    ]);
    expect(alive(a.child.pid!) && alive(b.child.pid!)).toBe(true);
    for (const r of results) if (r.found) r.unit.close();
    await expect(scanSocketDir(join(scanDir, "missing"))).rejects.toMatchObject({ code: "not_found" });
  });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
