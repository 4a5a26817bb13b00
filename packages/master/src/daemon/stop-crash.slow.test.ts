import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ownedProcesses } from "./owned-processes.ts";
import { masterAnswers } from "./run.ts";
import { hsu, loggedLineNumbers, until } from "../test-support/hsu-cli.ts";
import { createCrashHarness, seededRandom } from "../test-support/crash-harness.ts";

// A stop of many units sends every stop signal before any ended run's record or capture file is
// removed (that is batched after the exits). A master killed right after such a stop - before, during
// or after that batch - must leave the next master no orphan, no stale record and no lost line.
const h = createCrashHarness("hsu-stop-crash-");
const { dir, socket, stateDir, run, unitProcesses, startMaster, client, records } = h;
const logDir = join(stateDir, "logs");
const N = 12;
const LINES = 300;
const ROUNDS = 4;
const ids = Array.from({ length: N }, (_, i) => `u${i}`);

const { random, seed } = seededRandom("stop-crash.slow.test");

writeFileSync(
  join(dir, "hsu.yaml"),
  `units:\n${ids
    .map(
      (id) => `  ${id}:
    command: sh
    args: ["-c", "i=0; while [ $i -lt ${LINES} ]; do echo line $i; i=$((i+1)); done; trap 'echo line ${LINES}; exit 0' TERM; while true; do sleep 0.05; done"]
    env: { TEST_RUN: "${run}" }
    auto_start: false
    restart: { policy: never }
`,
    )
    .join("")}`,
);

const captures = () => readdirSync(logDir).filter((f) => f.endsWith(".stdout") || f.endsWith(".stderr"));

afterAll(() => h.cleanup());

describe("kill -9 of the master right after a stop of every unit", () => {
  it(`${ROUNDS} rounds: the next master finds no orphan and no stale record, and every unit's log has every line of every run`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const m = startMaster();
      await until(`master ${round} answers`, () => masterAnswers(socket));
      const c = client();
      await Promise.all(ids.map((id) => c.startUnit({ id }, { timeoutMs: 30_000 })));
      await until(`every unit of round ${round} runs`, () => ids.every((id) => unitProcesses().get(id)?.length === 1));
      // Stop them all at once; the master dies at a random point from right after the last unit is gone to 30 ms later.
      const stopping = Promise.allSettled(ids.map((id) => c.stopUnit({ id }, { timeoutMs: 30_000 })));
      await until(`every unit of round ${round} is gone`, () => unitProcesses().size === 0);
      // Round 0 at once: the dead master's removal batch (100 ms after the first exit) has most likely not run.
      const delay = round === 0 ? 0 : Math.floor(random() * 30);
      await new Promise((r) => setTimeout(r, delay));
      m.child.kill("SIGKILL");
      await m.exited;
      await stopping;
      // What the dead master left for the next one (ended runs not removed yet): printed, so a run shows what it covered.
      console.log(`stop-crash.slow.test: round ${round}: killed ${delay} ms after the stop, ${records().length} record(s) and ${captures().length} capture file(s) left`);
      // The next master: recovery drains what the dead one had not removed (or read), and removes it.
      const next = startMaster();
      await until(`master ${round}' answers`, () => masterAnswers(socket));
      const when = `round ${round}, master killed ${delay} ms after the last unit was gone (seed ${seed})`;
      expect(unitProcesses().size, `unit processes (${when})`).toBe(0);
      expect(ownedProcesses(stateDir), `owned processes (${when})`).toEqual([]);
      expect(records(), `process records (${when})`).toEqual([]);
      expect(captures(), `capture files (${when})`).toEqual([]);
      for (const id of ids) {
        // Every line of every run so far at least once (the last, line LINES, written at SIGTERM); repeats only after a crash.
        const count = new Map<number, number>();
        for (const n of loggedLineNumbers(logDir, id)) count.set(n, (count.get(n) ?? 0) + 1);
        const short = Array.from({ length: LINES + 1 }, (_, n) => n).filter((n) => (count.get(n) ?? 0) < round + 1);
        expect(short, `${id}: lines logged fewer than ${round + 1} times (${when})`).toEqual([]);
      }
      next.child.kill("SIGKILL");
      await next.exited;
    }
    const last = startMaster();
    await until("the last master answers", () => masterAnswers(socket));
    const down = await hsu(dir, "down");
    expect(down.code, down.stderr).toBe(0);
    await last.exited;
    expect(records()).toEqual([]);
    expect(captures()).toEqual([]);
    expect(readFileSync(join(logDir, `${ids[0]}.log`), "utf8").length).toBeGreaterThan(0);
  }, 300_000);
});
