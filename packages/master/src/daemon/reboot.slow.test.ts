import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { alive, createProjects, hsu, loggedLineNumbers, markedUnits, procState, until } from "../test-support/hsu-cli.ts";
import { lockHolder } from "./lock.ts";

// A host reboot as the next master sees it: every process of the last boot is
// gone at once (no master got to react), the state dir is still on disk with
// its records, a stale control socket and unread output, and - the hostile
// part - a process of the new boot happens to have the pid AND the start time
// a record names. It must be neither adopted nor signalled.
const echoUnit = join(import.meta.dirname, "..", "..", "..", "..", "examples", "echo", "src", "unit.ts");
const run = randomBytes(6).toString("hex");
const marker = `TEST_RUN=${run}`;
const projects = createProjects("hsu-reboot-");
const strangers: number[] = [];
const OTHER_BOOT = "00000000-0000-4000-8000-000000000000";

afterAll(() => {
  // The master first, so it restarts nothing that is killed after it.
  projects.removeAll();
  for (const pid of strangers) if (alive(pid)) process.kill(pid, "SIGKILL");
  for (const pids of markedUnits(marker).values()) for (const pid of pids) process.kill(-pid, "SIGKILL");
});

/** Field 22 of /proc/PID/stat. */
function startTimeOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
}

describe("a host reboot, simulated", () => {
  it("drains the last boot's output, adopts and signals nothing of the new boot, starts every unit afresh", async () => {
    const dir = projects.make(`units:
  writer:
    command: sh
    args: ["-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; exec sleep 600"]
    env: { TEST_RUN: "${run}" }
  echo:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${echoUnit}"]
    env: { TEST_RUN: "${run}" }
master:
  on_restart: adopt
`);
    const state = join(dir, ".hsu");
    const up = await hsu(dir, "up", "--detach");
    expect(up.code, up.stderr).toBe(0);
    expect((await hsu(dir, "start", "echo")).code).toBe(0);
    const capture = join(state, "logs", "writer.stdout");
    await until("the writer wrote its 2000 lines", () => existsSync(capture) && readFileSync(capture, "utf8").includes("line 1999\n"));
    const before = markedUnits(marker);
    expect([...before.keys()].sort()).toEqual(["echo", "writer"]);

    // Power loss: the master and every unit die in the same instant.
    const master = lockHolder(state).pid!;
    process.kill(master, "SIGKILL");
    for (const pids of before.values()) for (const pid of pids) process.kill(-pid, "SIGKILL");
    await until("every process of the last boot is gone", () => !alive(master) && markedUnits(marker).size === 0);

    // The new boot: a stranger got the pid and start time the records name, and the records still say the old boot.
    const stranger = spawn("sleep", ["600"], { stdio: "ignore", detached: true });
    await new Promise((r) => stranger.once("spawn", r));
    strangers.push(stranger.pid!);
    const same = { pid: stranger.pid!, startTime: startTimeOf(stranger.pid!), bootId: OTHER_BOOT };
    const unitRecord = join(state, "units", "writer.json");
    writeFileSync(unitRecord, JSON.stringify({ ...JSON.parse(readFileSync(unitRecord, "utf8")), ...same }));
    const echoRecord = join(state, "integrated", "echo.json");
    const stored = JSON.parse(readFileSync(echoRecord, "utf8")) as { attachment: object };
    writeFileSync(echoRecord, JSON.stringify({ ...stored, attachment: { ...stored.attachment, ...same } }));

    const again = await hsu(dir, "up", "--detach");
    expect(again.code, again.stderr).toBe(0);
    const call = await hsu(dir, "start", "echo");
    expect(call.code, call.stderr).toBe(0);
    const after = markedUnits(marker);
    expect(after.get("writer")).toHaveLength(1);
    expect(after.get("echo")).toHaveLength(1);
    expect(after.get("writer")![0]).not.toBe(stranger.pid);
    expect(after.get("echo")![0]).not.toBe(stranger.pid);
    // Never signalled: a plain `sleep` dies of SIGTERM and SIGKILL and stops on SIGSTOP.
    expect(procState(stranger.pid!)).toBe("S");

    // Every line of the last boot is in the log, in order, before the new run's.
    const logDir = join(state, "logs");
    await until("the new writer's lines reached the log", () => loggedLineNumbers(logDir, "writer").filter((n) => n === 1999).length >= 2);
    const numbers = loggedLineNumbers(logDir, "writer");
    const firstRun = numbers.slice(0, numbers.indexOf(1999) + 1);
    // At least once and in order: the first time each number shows up, they come 0, 1, 2, ... 1999.
    const firstSeen: number[] = [];
    const seen = new Set<number>();
    for (const n of firstRun) if (!seen.has(n)) (seen.add(n), firstSeen.push(n));
    expect(firstSeen).toEqual(Array.from({ length: 2000 }, (_, i) => i));

    const down = await hsu(dir, "down");
    expect(down.code, down.stderr).toBe(0);
    expect(markedUnits(marker).size).toBe(0);
    expect(procState(stranger.pid!)).toBe("S");
  }, 180_000);
});
