import { createClient } from "@connectrpc/connect";
import { CoreService } from "@hsu/proto";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { unitTransport } from "../cli/unit-transport.ts";
import { masterAnswers } from "./run.ts";
import { hsuArgv, hsuWith, markedUnits, until } from "../test-support/hsu-cli.ts";

// An integrated unit (and a pool of them) outlives a master killed with -9 and
// is re-adopted by the next one: same process, called at the address it
// registered, no second process, no new handshake.
const echoUnit = join(import.meta.dirname, "..", "..", "..", "..", "examples", "echo", "src", "unit.ts");
const run = `${process.pid}-${Date.now()}`;
const dir = mkdtempSync(join(tmpdir(), "hsu-iadopt-"));
const socket = join(dir, ".hsu", "control.sock");
const units = ["echo", "pool-0", "pool-1"];

writeFileSync(
  join(dir, "hsu.yaml"),
  `units:
  echo:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${echoUnit}"]
    env: { TEST_RUN: "${run}" }
    restart: { policy: on-failure, delay: 100ms }
  pool:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${echoUnit}"]
    env: { TEST_RUN: "${run}" }
    replicas: 2
`,
);

/** Live group leaders of this test run, by unit id (from /proc). */
const unitProcesses = () => markedUnits(`TEST_RUN=${run}`);

function startMaster(): { child: ChildProcess; exited: Promise<unknown> } {
  const child = spawn(process.execPath, hsuArgv("daemon", "-f", join(dir, "hsu.yaml")), { cwd: dir, stdio: "ignore" });
  return { child, exited: new Promise((r) => child.once("exit", r)) };
}

/** `hsu down`, which must succeed. */
async function down(): Promise<void> {
  const r = await hsuWith({ cwd: dir, timeoutMs: 60_000 }, "down");
  expect(r.code, r.stderr).toBe(0);
}

/** The pid that answers GetInfo for `unit`, called through the master. */
const pidOf = async (unit: string) => (await createClient(CoreService, unitTransport(socket, unit)).getInfo({})).info!.pid;

afterAll(async () => {
  await hsuWith({ cwd: dir, timeoutMs: 30_000 }, "down");
  for (const pids of unitProcesses().values()) for (const pid of pids) process.kill(-pid, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** A replayable random source: the seed is printed, HSU_TEST_SEED replays it. */
function seeded(): { seed: number; next(): number } {
  const seed = Number(process.env.HSU_TEST_SEED ?? Date.now() % 1_000_000);
  let x = seed || 1;
  return {
    seed,
    next: () => {
      x = (x * 48271) % 2147483647;
      return x / 2147483647;
    },
  };
}

describe("integrated units across a master crash", () => {
  it("are re-adopted after kill -9 of the master: same pid answers, exactly one process each, and the policy still restarts them", async () => {
    const first = startMaster();
    await until("the first master answers", () => masterAnswers(socket));
    const before = new Map<string, number>();
    for (const u of units) before.set(u, await pidOf(u));
    expect(new Set(before.values()).size).toBe(3);
    // The token the units hold is kept where only the master's user can read it.
    expect(statSync(join(dir, ".hsu", "integrated", "echo.json")).mode & 0o777).toBe(0o600);

    first.child.kill("SIGKILL");
    await first.exited;
    const orphans = unitProcesses();
    for (const u of units) expect(orphans.get(u), `${u} outlives the master`).toEqual([before.get(u)]);

    const second = startMaster();
    await until("the second master answers", () => masterAnswers(socket));
    for (const u of units) expect(await pidOf(u), `${u} is answered by its old process`).toBe(before.get(u));
    const after = unitProcesses();
    expect([...after.keys()].sort()).toEqual([...units].sort());
    for (const u of units) expect(after.get(u), `${u}: one process, the adopted one`).toEqual([before.get(u)]);

    // The adopted process is supervised like any other: killed, it is restarted per its policy.
    process.kill(before.get("echo")!, "SIGKILL");
    await until("echo runs again in a new process", () => {
      const p = unitProcesses().get("echo");
      return p?.length === 1 && p[0] !== before.get("echo");
    });
    const restarted = await pidOf("echo");
    expect(restarted).not.toBe(before.get("echo"));
    expect(unitProcesses().get("echo")).toEqual([restarted]);

    await down();
    await second.exited;
    await until("no unit process is left", () => unitProcesses().size === 0, 10_000);
  }, 120_000);

  it("kill -9 of the master at random points of its start-up (handshakes half done), 6 times, never leaves two processes of a unit", async () => {
    const rnd = seeded();
    console.log(`kill loop seed ${rnd.seed} (replay with HSU_TEST_SEED=${rnd.seed})`);
    // Started at `up` (not on demand), so the kills land in spawns and handshakes.
    writeFileSync(join(dir, "hsu.yaml"), readFileSync(join(dir, "hsu.yaml"), "utf8").replaceAll("kind: integrated", "kind: integrated\n    on_demand: false"));
    for (let i = 0; i < 6; i++) {
      const master = startMaster();
      await until("the master answers", () => masterAnswers(socket));
      await new Promise((r) => setTimeout(r, Math.floor(rnd.next() * 1500)));
      master.child.kill("SIGKILL");
      await master.exited;
      const p = unitProcesses();
      for (const u of units) expect(p.get(u)?.length ?? 0, `${u} after kill ${i} (seed ${rnd.seed})`).toBeLessThanOrEqual(1);
    }
    const last = startMaster();
    await until("the master answers", () => masterAnswers(socket));
    for (const u of units) await pidOf(u);
    const p = unitProcesses();
    expect(units.map((u) => p.get(u)?.length), `seed ${rnd.seed}`).toEqual([1, 1, 1]);
    for (const u of units) expect(await pidOf(u)).toBe(p.get(u)![0]);
    await down();
    await last.exited;
    await until("no unit process is left", () => unitProcesses().size === 0, 10_000);
  }, 180_000);
});
