import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ownedProcesses } from "./owned-processes.ts";
import { masterAnswers } from "./run.ts";
import { hsu, until } from "../test-support/hsu-cli.ts";
import { createCrashHarness, seededRandom } from "../test-support/crash-harness.ts";

// A master killed (kill -9) while one StopUnit request stops many units - before it read the request,
// with the stop signals out and the units still exiting, or while it waits out the graceful timeout of
// a unit that ignores SIGTERM - leaves the next master no orphan and no stale record.
const h = createCrashHarness("hsu-batch-crash-");
const { dir, socket, stateDir, run, unitProcesses, startMaster, client, records } = h;
const N = 8;
const ROUNDS = 3;
const ids = [...Array.from({ length: N }, (_, i) => `u${i}`), "stubborn"];

const { random, seed } = seededRandom("batch-crash.slow.test");

const unit = (id: string, script: string, extra = "") => `  ${id}:
    command: sh
    args: ["-c", "${script}"]
    env: { TEST_RUN: "${run}" }
    auto_start: false
    restart: { policy: never }
${extra}`;
writeFileSync(
  join(dir, "hsu.yaml"),
  `units:\n${ids
    .map((id) =>
      id === "stubborn"
        ? unit(id, "trap '' TERM; while true; do sleep 0.05; done", "    graceful_timeout: 2s\n")
        : // Exits 300 ms after SIGTERM: a master killed in that window has sent the signal but not seen the exit.
          unit(id, "trap 'sleep 0.3; exit 0' TERM; while true; do sleep 0.05; done"),
    )
    .join("")}`,
);


afterAll(() => h.cleanup());

describe("kill -9 of the master during one StopUnit of many units", () => {
  it(`${ROUNDS} rounds: the next master leaves no unit process and no record behind`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const m = startMaster();
      await until(`master ${round} answers`, () => masterAnswers(socket));
      const c = client();
      await c.startUnit({ ids }, { timeoutMs: 30_000 });
      await until(`every unit of round ${round} runs`, () => ids.every((id) => unitProcesses().get(id)?.length === 1));
      // Round 0: killed right after the request is sent; later rounds: 0-400 ms on (the units are exiting, the stubborn one waits).
      const stopping = c.stopUnit({ ids }, { timeoutMs: 30_000 }).then(
        () => "answered",
        () => "failed",
      );
      const delay = round === 0 ? 0 : Math.floor(random() * 400);
      await new Promise((r) => setTimeout(r, delay));
      const leftAtKill = unitProcesses().size;
      m.child.kill("SIGKILL");
      await m.exited;
      expect(await stopping, "the batch never answers: its master died first").toBe("failed");
      console.log(`batch-crash.slow.test: round ${round}: killed ${delay} ms after the request, ${leftAtKill} unit(s) still running then`);
      const next = startMaster();
      await until(`master ${round}' answers`, () => masterAnswers(socket));
      const when = `round ${round}, master killed ${delay} ms after the request (seed ${seed})`;
      // The stubborn unit ignores SIGTERM and nothing else would ever end it: only the next master can.
      await until(`no unit process is left (${when})`, () => unitProcesses().size === 0, 20_000);
      await until(`no owned process is left (${when})`, () => ownedProcesses(stateDir).length === 0, 20_000);
      await until(`no stale record is left (${when})`, () => records().length === 0, 20_000);
      const listed = await client().listUnits({});
      expect(listed.units.filter((u) => u.state !== "stopped").map((u) => `${u.id}: ${u.state}`), when).toEqual([]);
      next.child.kill("SIGKILL");
      await next.exited;
    }
  }, 300_000);
});
