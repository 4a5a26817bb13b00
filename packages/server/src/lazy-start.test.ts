// A unit's start loads only what its unary calls need: connect-node (and with
// it node:https and zlib) loads on the first call the fast path leaves to the
// generic pipeline, and that call is then served. Run in a fresh process,
// since a test runner has long loaded everything.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as v1 from "@hsu/proto/gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "@hsu/proto/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { afterEach, describe, expect, it } from "vitest";
import { reflectionServiceNames } from "./serve-unit.ts";

const child = String.raw`
const watched = ["NativeModule zlib", "NativeModule https", "NativeModule internal/deps/undici/undici"];
const loaded = () => process.moduleLoadList.filter((m) => watched.includes(m));
const { serveUnit } = await import("@hsu/server");
const { createUnitTransport } = await import("@hsu/transport");
const { createClient } = await import("@connectrpc/connect");
const { CoreService } = await import("@hsu/proto/gen/hsu/core/v1/core_pb.js");
const { Health } = await import("@hsu/proto/gen/grpc/health/v1/health_pb.js");
const out = {};
if (process.env.MODE === "shutdown") {
  // Shutdown checks the token in a request header: read as received, not through a Headers object.
  const unit = await serveUnit({ name: "lazy", env: { HSU_LISTEN: process.env.LISTEN, HSU_TOKEN: "t0k3n" }, exitProcess: false, handleSignals: false, log: () => {} });
  await createClient(CoreService, createUnitTransport(unit.address, { token: "t0k3n" })).shutdown({ reason: "test" });
  out.stopped = (await unit.stopped).reason;
  out.afterShutdown = loaded();
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
}
const unit = await serveUnit({ name: "lazy", env: { HSU_LISTEN: process.env.LISTEN }, exitProcess: false, handleSignals: false, log: () => {} });
out.atListen = loaded();
const transport = createUnitTransport(unit.address);
out.pong = (await createClient(CoreService, transport).ping({})).unitId;
out.afterUnary = loaded();
const abort = new AbortController();
for await (const r of createClient(Health, transport).watch({ service: "" }, { signal: abort.signal })) {
  out.watched = r.status;
  break;
}
out.afterStream = loaded();
out.services = (await createClient(CoreService, transport).getInfo({})).info.services;
await unit.shutdown(1000);
process.stdout.write(JSON.stringify(out));
`;

function runChild(listen: string, mode = ""): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--conditions=@hsu/source", "--input-type=module", "-e", child], {
      cwd: import.meta.dirname,
      env: { ...process.env, LISTEN: listen, MODE: mode },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    p.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    p.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`the unit process did not finish within 20 s; stderr: ${stderr}`));
    }, 20_000);
    p.once("exit", (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`the unit process exited with ${code}; stderr: ${stderr}`));
      else resolve(JSON.parse(stdout) as Record<string, unknown>);
    });
  });
}

describe("serveUnit's start", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("serves unary calls without loading connect-node, and loads it for the first stream", async () => {
    dir = mkdtempSync(join(tmpdir(), "hsu-lazy-"));
    const out = await runChild(`unix:${join(dir, "u.sock")}`);
    expect(out.atListen).toEqual([]);
    expect(out.pong).toBe("lazy");
    expect(out.afterUnary).toEqual([]);
    expect(out.watched).toBe(1); // SERVING
    expect(out.afterStream).toEqual(expect.arrayContaining(["NativeModule zlib", "NativeModule https"]));
    // Reflection is served by the lazy part, but named from the start.
    expect(out.services).toEqual([
      "hsu.core.v1.CoreService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("answers Shutdown with the token without loading Node's fetch implementation", async () => {
    dir = mkdtempSync(join(tmpdir(), "hsu-lazy-"));
    const out = await runChild(`unix:${join(dir, "u.sock")}`, "shutdown");
    expect(out.stopped).toBe("test");
    expect(out.afterShutdown).toEqual([]);
  });

  it("names the reflection services as their descriptors do", () => {
    expect(reflectionServiceNames).toEqual([v1.ServerReflection.typeName, v1alpha.ServerReflection.typeName]);
  });
});
