import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createProjects, hsu, loggedLineNumbers, markedUnits, procState, until } from "../test-support/hsu-cli.ts";
import { lockHolder } from "./lock.ts";

// A master that is stopped (SIGSTOP, a debugger) reads nothing for a while:
// its units must neither block nor lose a line, and it must carry on where it
// stopped once it runs again.
const run = randomBytes(6).toString("hex");
const marker = `TEST_RUN=${run}`;
const projects = createProjects("hsu-stopped-");
const LINES = 3000;

afterAll(() => {
  // The master first, so it restarts nothing that is killed after it.
  projects.removeAll();
  for (const pids of markedUnits(marker).values()) for (const pid of pids) process.kill(-pid, "SIGKILL");
});

describe("a stopped master", () => {
  it("its unit writes on while it is stopped; once continued, every line is in the log exactly once, in order", async () => {
    const dir = projects.make(`units:
  talker:
    command: sh
    args: ["-c", "i=0; while [ $i -lt ${LINES} ]; do echo line $i; i=$((i+1)); [ $((i % 100)) -eq 0 ] && sleep 0.01; done; exec sleep 600"]
    env: { TEST_RUN: "${run}" }
`);
    const state = join(dir, ".hsu");
    const up = await hsu(dir, "up", "--detach");
    expect(up.code, up.stderr).toBe(0);
    const master = lockHolder(state).pid!;
    const logDir = join(state, "logs");
    await until("the first lines reached the log", () => existsSync(join(logDir, "talker.log")) && loggedLineNumbers(logDir, "talker").length > 0);
    process.kill(master, "SIGSTOP");
    try {
      await until("the master is stopped", () => procState(master) === "T");
      const capture = join(logDir, "talker.stdout");
      await until("the unit wrote every line while the master was stopped", () => readFileSync(capture, "latin1").includes(`line ${LINES - 1}\n`));
      expect(procState(master)).toBe("T");
    } finally {
      process.kill(master, "SIGCONT");
    }
    await until("the master read on to the last line", () => loggedLineNumbers(logDir, "talker").includes(LINES - 1));
    expect(loggedLineNumbers(logDir, "talker")).toEqual(Array.from({ length: LINES }, (_, i) => i));
    const down = await hsu(dir, "down");
    expect(down.code, down.stderr).toBe(0);
    expect(markedUnits(marker).size).toBe(0);
  }, 120_000);
});
