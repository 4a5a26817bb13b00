import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./test-support/free-port.ts";
import { createProjects, hsu, hsuWith, until } from "../../master/src/test-support/hsu-cli.ts";

// Direct grants end to end (direct.ts, the master's control/gateway-grants.ts): a real master, the TS echo
// unit (on demand, idle_timeout 1500ms) and a gateway unit with an `auth: required` route. The hostile cases:
// a frozen master, a frozen gateway during a revoke, idling out, a restart under load.
const root = join(import.meta.dirname, "..", "..", "..");
const echoUnit = join(root, "examples", "echo", "src", "unit.ts");
const gatewayMain = join(import.meta.dirname, "main.ts");
const projects = createProjects("hsu-gw-direct-");
const sh = promisify(execFile);
let dir: string;
let base: string;

type Ps = { id: string; pid: number | null; state: string }[];
const ps = async (): Promise<Ps> => JSON.parse((await hsu(dir, "ps", "--json")).stdout) as Ps;
const unit = async (id: string) => (await ps()).find((u) => u.id === id)!;
const masterPid = () => Number(readFileSync(join(dir, ".hsu", "master.pid"), "utf8").trim());

async function echo(token: string, timeoutMs = 20_000): Promise<number> {
  const res = await fetch(`${base}/v1/echo`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: '{"message":"a"}',
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.arrayBuffer();
  return res.status;
}

async function createToken(name: string): Promise<{ token: string; id: string }> {
  const r = await hsu(dir, "token", "create", "--name", name, "--role", "caller", "--unit", "echo", "--json");
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return JSON.parse(r.stdout) as { token: string; id: string };
}

/** Sends `count` calls with `inFlight` at a time; the statuses, in no order (a failed fetch counts as 0). */
async function load(token: string, count: number, inFlight: number): Promise<number[]> {
  const out: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < count) out.push(await echo(token).catch(() => 0));
    }),
  );
  return out;
}

/** Runs `body` with process `pid` stopped (SIGSTOP), continuing it whatever happens. */
async function frozen<T>(pid: number, body: () => Promise<T>): Promise<T> {
  process.kill(pid, "SIGSTOP");
  try {
    return await body();
  } finally {
    process.kill(pid, "SIGCONT");
  }
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  dir = projects.make("units: {}\n");
  await sh("npx", ["buf", "build", join(root, "examples", "echo", "proto"), "-o", join(dir, "echo.binpb")], { cwd: root });
  writeFileSync(
    join(dir, "hsu.yaml"),
    `units:
  echo:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${echoUnit}"]
    idle_timeout: 1500ms
  gateway:
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${gatewayMain}"]
    gateway:
      listen: 127.0.0.1:${port}
      routes:
        - unit: echo
          descriptors: echo.binpb
          auth: required
`,
  );
  const up = await hsu(dir, "up", "--detach");
  expect(up.code, up.stderr + up.stdout).toBe(0);
  await until("the gateway answers /healthz", async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true);
  await until("the gateway is attached to the master", async () => (await hsu(dir, "logs", "gateway", "--tail", "50")).stdout.includes("attached to the master"));
});

afterAll(async () => {
  if (dir) await hsu(dir, "down");
  projects.removeAll();
});

describe("direct grants: the gateway calls a unit itself once the master has authorized the caller", () => {
  it("with the master frozen, an authorized caller is still served; once the master's last word is stale, calls wait for the master again", async () => {
    const { token } = await createToken("frozen-master");
    for (const s of await load(token, 20, 1)) expect(s).toBe(200);
    const pid = masterPid();
    await frozen(pid, async () => {
      // Straight to the unit: the master, stopped, takes no part.
      expect(await echo(token, 5000)).toBe(200);
      // After the grants' freshness (3 s) without a word from the master, the gateway uses them no more.
      await new Promise((r) => setTimeout(r, 4000));
      await expect(echo(token, 1500)).rejects.toThrow();
    });
    await until("calls are served again once the master runs", async () => (await echo(token).catch(() => 0)) === 200);
  });

  it("a revoke is answered while the gateway is frozen, and the revoked token is refused once the gateway runs again", async () => {
    const { token, id } = await createToken("frozen-gateway");
    for (const s of await load(token, 50, 4)) expect(s).toBe(200);
    const gateway = (await unit("gateway")).pid!;
    await frozen(gateway, async () => {
      // Not held up for ever by a gateway that cannot answer: at most the grants' freshness (3 s), within this deadline.
      const r = await hsuWith({ cwd: dir, timeoutMs: 20_000 }, "token", "revoke", id);
      expect(r.code, r.stderr + r.stdout).toBe(0);
    });
    expect(await echo(token)).toBe(401);
    const log = readFileSync(join(dir, ".hsu", "master.log"), "utf8");
    expect(log).toMatch(/gateway "gateway" \(pid \d+\) did not acknowledge a new grant epoch \(hsu\.master\.v1\.ControlService\/RevokeToken\)/);
  });

  it("a unit called directly stays up while the calls go on and idles out once they stop", async () => {
    const { token } = await createToken("idle");
    expect(await echo(token)).toBe(200);
    const first = (await unit("echo")).pid;
    expect(first).toBeGreaterThan(0);
    // 4 s of calls, each well inside the 1.5 s idle timeout of the last: the same process serves them all.
    const until4s = Date.now() + 4000;
    while (Date.now() < until4s) {
      expect(await echo(token)).toBe(200);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await unit("echo")).pid).toBe(first);
    await until("the echo unit idles out after the calls stopped", async () => (await unit("echo")).state === "idle", 20_000);
    // And the next call wakes it, through the master.
    expect(await echo(token)).toBe(200);
  });

  it("a restart of the unit while callers hold grants loses no call", async () => {
    const { token } = await createToken("restart");
    for (const s of await load(token, 20, 2)) expect(s).toBe(200);
    const before = (await unit("echo")).pid;
    const calls = load(token, 600, 8);
    await new Promise((r) => setTimeout(r, 300));
    const r = await hsu(dir, "restart", "echo");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const statuses = await calls;
    const counts = statuses.reduce<Record<number, number>>((m, s) => ((m[s] = (m[s] ?? 0) + 1), m), {});
    expect(counts, JSON.stringify(counts)).toEqual({ 200: 600 });
    expect((await unit("echo")).pid).not.toBe(before);
  });
});
