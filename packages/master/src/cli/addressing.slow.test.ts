// What `hsu ps/stop/restart <name>` address, through the real binary and a
// real master: a replica id is that replica only, a pool name is the pool,
// an unknown name is an error; and what ps --json says about things never measured.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDeployment } from "../config/index.ts";
import { runMaster, type RunningMaster } from "../daemon/run.ts";
import { hsuWith, type HsuResult } from "../test-support/hsu-cli.ts";

/** `hsu ...args --socket <the master's socket>`, 30 s at most. */
const hsu = (...args: string[]) => hsuWith({ timeoutMs: 30_000 }, ...args, "--socket", socket);

let dir: string;
let running: RunningMaster;
let socket: string;
let outsider: ChildProcess;
type Row = { id: string; state: string; pid: number | null; cpuPercent: number | null; rssBytes: number | null };
const rows = (r: HsuResult) => JSON.parse(r.stdout) as Row[];
const pidOf = (id: string) => running.master.get(id)[0]!.pid;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hsu-addr-"));
  // A process the master did not start: it may watch it, never stop it.
  outsider = spawn("sleep", ["600"], { stdio: "ignore" });
  writeFileSync(join(dir, "outsider.pid"), `${outsider.pid}\n`);
  const spec = `units:
  workers:
    command: sh
    args: ["-c", "exec sleep 600"]
    replicas: 3
  lazy:
    command: sh
    args: ["-c", "exec sleep 600"]
    auto_start: false
  outsider:
    kind: unmanaged
    pid_file: outsider.pid
`;
  running = await runMaster(parseDeployment(spec, "hsu.yaml", dir), { handleSignals: false, log: () => {} });
  await running.master.up();
  socket = running.control.socketPath;
});
afterAll(async () => {
  await running?.stop();
  outsider?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("a replica id addresses that replica, the pool name the pool", () => {
  it("hsu stop workers-1 stops workers-1 only", async () => {
    const before = { w0: pidOf("workers-0"), w2: pidOf("workers-2") };
    const r = await hsu("stop", "workers-1", "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: "workers-1", state: "stopped", pid: null });
    expect(running.master.get("workers-0")[0]).toMatchObject({ state: "running", pid: before.w0 });
    expect(running.master.get("workers-2")[0]).toMatchObject({ state: "running", pid: before.w2 });
  });

  it("hsu start workers-1 starts it again, alone", async () => {
    const w0 = pidOf("workers-0");
    expect((await hsu("start", "workers-1")).code).toBe(0);
    expect(running.master.get("workers-1")[0]!.state).toBe("running");
    expect(pidOf("workers-0")).toBe(w0);
  });

  it("hsu restart workers-0 restarts one replica and prints its one row", async () => {
    const before = { w0: pidOf("workers-0"), w1: pidOf("workers-1"), w2: pidOf("workers-2") };
    const r = await hsu("restart", "workers-0");
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/)[0])).toEqual(["workers-0"]);
    expect(pidOf("workers-0")).not.toBe(before.w0);
    expect(pidOf("workers-1")).toBe(before.w1);
    expect(pidOf("workers-2")).toBe(before.w2);
  });

  it("hsu restart workers restarts every replica and prints every row", async () => {
    const before = ["workers-0", "workers-1", "workers-2"].map(pidOf);
    const r = await hsu("restart", "workers", "--json");
    expect(r.code).toBe(0);
    expect(rows(r).map((u) => u.id)).toEqual(["workers-0", "workers-1", "workers-2"]);
    const after = ["workers-0", "workers-1", "workers-2"].map(pidOf);
    for (let i = 0; i < 3; i++) expect(after[i]).not.toBe(before[i]);
  });
});

describe("hsu scale <replica>", () => {
  it("is refused, naming the pool, and changes nothing", async () => {
    const r = await hsu("scale", "workers-1", "5");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"workers-1" is a replica of pool "workers"; scale the pool: `hsu scale workers N`');
    expect(running.master.get("workers")).toHaveLength(3);
  });
});

describe("hsu ps <name>", () => {
  it("shows only the named units; a pool name stands for its replicas", async () => {
    const r = await hsu("ps", "workers-2", "lazy", "--json");
    expect(r.code).toBe(0);
    expect(rows(r).map((u) => u.id)).toEqual(["lazy", "workers-2"]);
    expect(rows(await hsu("ps", "workers", "--json")).map((u) => u.id)).toEqual(["workers-0", "workers-1", "workers-2"]);
    const table = await hsu("ps", "lazy");
    expect(table.stdout).toMatch(/^UNIT .*\nlazy .*\n1 unit: 1 stopped\n$/);
  });

  it("an unknown name is an error that names it, exit 1", async () => {
    const r = await hsu("ps", "lazy", "ghost");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no unit "ghost"');
    expect(r.stdout).toBe("");
  });
});

describe("hsu ps --json", () => {
  it("gives null CPU and RSS for a unit never sampled, numbers once sampled", async () => {
    const lazy = rows(await hsu("ps", "lazy", "--json"))[0]!;
    expect(lazy).toMatchObject({ state: "stopped", cpuPercent: null, rssBytes: null });
    // The master samples once a second; wait (bounded) for a running replica's first sample.
    const deadline = Date.now() + 10_000;
    let w: Row | undefined;
    while (Date.now() < deadline) {
      w = rows(await hsu("ps", "workers-1", "--json"))[0];
      if (w?.rssBytes !== null) break;
    }
    expect(w, "workers-1 was never sampled within 10 s").toMatchObject({ state: "running" });
    expect(w!.rssBytes).toBeGreaterThan(0);
    expect(typeof w!.cpuPercent).toBe("number");
  });
});

describe("errors name the hsu.yaml key", () => {
  it("refusing to stop an unmanaged unit says can_terminate", async () => {
    const r = await hsu("stop", "outsider");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("can_terminate: true");
    expect(r.stderr).not.toMatch(/canTerminate/);
    expect(outsider.exitCode).toBeNull();
  });
});
