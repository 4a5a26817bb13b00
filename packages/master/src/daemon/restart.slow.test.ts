import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { masterAnswers } from "./run.ts";

const main = join(import.meta.dirname, "..", "cli", "bin.ts");
const run = randomBytes(6).toString("hex");
const dir = mkdtempSync(join(tmpdir(), "hsu-restart-"));
const socket = join(dir, ".hsu", "control.sock");
const units = ["steady", "ticker", "workers-0", "workers-1"];

writeFileSync(
  join(dir, "hsu.yaml"),
  `units:
  steady:
    command: sh
    args: ["-c", "exec sleep 600"]
    env: { TEST_RUN: "${run}" }
  ticker:
    command: sh
    args: ["-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"]
    env: { TEST_RUN: "${run}" }
  workers:
    command: sh
    args: ["-c", "exec sleep 600"]
    env: { TEST_RUN: "${run}" }
    replicas: 2
`,
);

/** Every live process group leader of this test run, by unit. */
function unitProcesses(): Map<string, number[]> {
  const found = new Map<string, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, "latin1").split("\0");
      if (!env.includes(`TEST_RUN=${run}`)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, , pgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z" || Number(pgid) !== Number(name)) continue;
      const get = (k: string) => env.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1);
      const unit = get("HSU_POOL") ? `${get("HSU_POOL")}-${get("HSU_INDEX")}` : get("HSU_UNIT_ID")!;
      found.set(unit, [...(found.get(unit) ?? []), Number(name)]);
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

function startMaster(): ChildProcess {
  return spawn(process.execPath, ["--conditions=@hsu/source", main, "daemon", "-f", join(dir, "hsu.yaml")], { cwd: dir, stdio: "ignore" });
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const allRunning = () => {
  const p = unitProcesses();
  return units.every((u) => p.get(u)?.length === 1);
};

afterAll(async () => {
  await promisify(execFile)(process.execPath, ["--conditions=@hsu/source", main, "down"], { cwd: dir }).catch(() => {});
  for (const pids of unitProcesses().values()) for (const pid of pids) process.kill(-pid, "SIGKILL");
});

describe("master restart without loss", () => {
  it("kill -9 of the master and a restart, 20 times, leaves exactly one process per unit and none orphaned", async () => {
    let adoptedOnce = false;
    for (let i = 0; i < 20; i++) {
      const master = startMaster();
      const exited = new Promise((r) => master.once("exit", r));
      await until("the master answers", () => masterAnswers(socket));
      if (i % 2 === 0) {
        const before = new Map(unitProcesses());
        await until("every unit runs", allRunning);
        if (i > 0 && units.every((u) => before.get(u)?.[0] === unitProcesses().get(u)?.[0])) adoptedOnce = true;
      } else {
        // Kill it at an arbitrary moment of its start-up, records half-written or not.
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
      }
      master.kill("SIGKILL");
      await exited;
      const p = unitProcesses();
      for (const u of units) expect(p.get(u)?.length ?? 0, `unit ${u} after kill ${i}`).toBeLessThanOrEqual(1);
    }
    // The last life: everything comes up once, then goes down completely.
    const master = startMaster();
    // Listen for the exit now: after `hsu down` the master may be gone before the next line runs.
    const masterExited = new Promise((r) => master.once("exit", r));
    await until("the master answers", () => masterAnswers(socket));
    await until("every unit runs", allRunning);
    const p = unitProcesses();
    expect(units.map((u) => p.get(u)?.length)).toEqual([1, 1, 1, 1]);
    expect([...p.keys()].sort()).toEqual(units);
    expect(adoptedOnce).toBe(true);
    await promisify(execFile)(process.execPath, ["--conditions=@hsu/source", main, "down"], { cwd: dir, timeout: 60_000 });
    await masterExited;
    await until("no unit process is left", () => unitProcesses().size === 0, 10_000);
  }, 300_000);
});
