import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ownedProcesses } from "./owned-processes.ts";
import { masterAnswers } from "./run.ts";
import { alive, hsu, until } from "../test-support/hsu-cli.ts";
import { createCrashHarness, seededRandom } from "../test-support/crash-harness.ts";

const h = createCrashHarness("hsu-restart-");
const { dir, socket, stateDir, run, unitProcesses, startMaster } = h;
const units = ["steady", "ticker", "workers-0", "workers-1"];
const KILLS = 20;

// Random fault points, replayable: HSU_TEST_SEED=<seed> runs the same delays again.
const { random, seed } = seededRandom("restart.slow.test");

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



const noDuplicates = (when: string) => {
  const p = unitProcesses();
  for (const u of units) expect(p.get(u)?.length ?? 0, `processes of unit ${u} ${when}`).toBeLessThanOrEqual(1);
};
const allRunning = () => {
  const p = unitProcesses();
  return units.every((u) => p.get(u)?.length === 1);
};

/** Once a restarted master is up: one process per unit, each the one the master lists (no orphan, no stranger). */
async function expectOneEach(when: string): Promise<void> {
  await until(`every unit runs (${when})`, allRunning);
  const client = h.client();
  // A unit taken over from the previous life shows its pid once the master has adopted it.
  let listed = new Map<string, number>();
  await until(`the master lists every unit with a pid (${when})`, async () => {
    listed = new Map((await client.listUnits({}, { timeoutMs: 5000 })).units.map((u) => [u.id, u.pid]));
    return units.every((u) => (listed.get(u) ?? 0) > 0);
  });
  const p = unitProcesses();
  expect([...p.keys()].sort(), when).toEqual(units);
  for (const u of units) expect(p.get(u), `${u} ${when}`).toEqual([listed.get(u)]);
}

afterAll(() => h.cleanup());

describe("master restart without loss", () => {
  it(`kill -9 of the master at ${KILLS} random points, each followed by a restart, leaves exactly one process per unit, none orphaned`, async () => {
    let adopted = 0;
    for (let i = 0; i < KILLS; i++) {
      // A random point of a master's life: reading the records, adopting, spawning, or running.
      const delay = Math.floor(random() * 2500);
      const victim = startMaster();
      const end = Date.now() + delay;
      while (Date.now() < end) {
        noDuplicates(`while master ${i} starts (kill at ${delay} ms, seed ${seed})`);
        await new Promise((r) => setTimeout(r, 25));
      }
      victim.child.kill("SIGKILL");
      await victim.exited;
      noDuplicates(`after kill ${i} at ${delay} ms (seed ${seed})`);
      const before = unitProcesses();
      // The restart: the lock of the dead master is free at once, and this one finds every unit again.
      const next = startMaster();
      await until(`master ${i}' answers`, () => masterAnswers(socket));
      await expectOneEach(`after restart ${i} (kill at ${delay} ms, seed ${seed})`);
      if (units.some((u) => before.get(u)?.[0] !== undefined && before.get(u)?.[0] === unitProcesses().get(u)?.[0])) adopted++;
      // Killed again at once, so the next life starts from a full set of records and live units.
      next.child.kill("SIGKILL");
      await next.exited;
    }
    expect(adopted, "restarts that took over a live unit").toBeGreaterThan(0);
    // The last life: everything comes up once, then `hsu down` returns only when nothing is left.
    const last = startMaster();
    await until("the last master answers", () => masterAnswers(socket));
    await expectOneEach("in the last life");
    const pids = [...unitProcesses().values()].flat();
    const asked = Date.now();
    const down = await hsu(dir, "down");
    expect(down.code, down.stderr).toBe(0);
    console.log(`restart.slow.test: hsu down took ${Date.now() - asked} ms`);
    // Right when down returns: the master and every unit process are gone - no waiting here.
    expect(alive(last.child.pid!), "the master after hsu down").toBe(false);
    expect(pids.filter(alive), "unit processes after hsu down").toEqual([]);
    expect(unitProcesses().size).toBe(0);
    expect(ownedProcesses(stateDir)).toEqual([]);
  }, 480_000);
});
