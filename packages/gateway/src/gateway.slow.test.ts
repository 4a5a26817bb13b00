import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProjects, hsu, until } from "../../master/src/test-support/hsu-cli.ts";

// The gateway as a unit of a real master (`hsu up` from source): curl and
// Connect/gRPC-Web clients call the TS echo unit through it, waking it on the
// first call; hostile requests get clear HTTP errors and never reach the unit.
const root = join(import.meta.dirname, "..", "..", "..");
const echoUnit = join(root, "examples", "echo", "src", "unit.ts");
const gatewayMain = join(import.meta.dirname, "main.ts");
const projects = createProjects("hsu-gateway-");
let dir: string;
let base: string;
let port: number;

const sh = promisify(execFile);

/** Runs curl; returns the status (from -w) and the body. Never throws on an HTTP error. */
async function curl(...args: string[]): Promise<{ status: number; body: string; headers: string }> {
  const { stdout } = await sh("curl", ["-sS", "--max-time", "20", "-D", "-", "-o", "-", "-w", "\n%{http_code}", ...args], { maxBuffer: 16 * 1024 * 1024 });
  const cut = stdout.lastIndexOf("\n");
  const status = Number(stdout.slice(cut + 1));
  const all = stdout.slice(0, cut);
  const split = all.lastIndexOf("\r\n\r\n");
  return { status, headers: all.slice(0, split), body: all.slice(split + 4) };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

beforeAll(async () => {
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  dir = projects.make("units: {}\n");
  await sh("npx", ["buf", "build", join(root, "examples", "echo", "proto"), "-o", join(dir, "echo.binpb")], { cwd: root });
  await sh("npx", ["buf", "build", join(root, "proto"), "--path", join(root, "proto", "grpc", "health", "v1", "health.proto"), "-o", join(dir, "health.binpb")], { cwd: root });
  const spec = `units:
  echo:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${echoUnit}"]
  gateway:
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${gatewayMain}"]
    gateway:
      listen: 127.0.0.1:${port}
      routes:
        - unit: echo
          descriptors: [echo.binpb, health.binpb]
          auth: none
      cors: { origins: ["http://127.0.0.1:3000"], headers: [x-trace], max_age: 10m }
      limits: { max_body: 64KiB, timeout: 5s, header_timeout: 1s, rate: { requests: 100, per: 1s, burst: 1000 } }
`;
  (await import("node:fs")).writeFileSync(join(dir, "hsu.yaml"), spec);
  const up = await hsu(dir, "up", "--detach");
  expect(up.code, up.stderr + up.stdout).toBe(0);
  await until("the gateway answers /healthz", async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true);
});

afterAll(async () => {
  if (dir) await hsu(dir, "down");
  projects.removeAll();
});

const echoPath = "/hsu.examples.echo.v1.EchoService/Echo";

async function echoState(): Promise<string> {
  const r = await hsu(dir, "ps", "--json");
  const units = JSON.parse(r.stdout) as { id: string; state: string }[] | { units: { id: string; state: string }[] };
  const list = Array.isArray(units) ? units : units.units;
  return list.find((u) => u.id === "echo")?.state ?? "?";
}

describe("Connect through a real master", () => {
  it("wakes the sleeping echo unit on the first JSON call (HTTP/1.1)", async () => {
    expect(await echoState()).not.toMatch(/running|ready/);
    const r = await curl("-H", "content-type: application/json", "-d", '{"message":"hi"}', `${base}${echoPath}`);
    expect(r.status, r.body).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ message: "hi", unitId: "echo" });
    expect(await echoState()).toMatch(/running|ready/);
  });
});
