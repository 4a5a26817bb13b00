import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { isRunning, parseStat, readStatSync } from "./proc.ts";

// Fields 3 to 22 of a stat line: state, ppid, pgrp, session, tty, tpgid, flags,
// four fault counters, utime, stime, cutime, cstime, priority, nice, threads, itrealvalue, starttime.
const tail = "S 7 99 99 0 -1 4194304 0 0 0 0 5 6 0 0 20 0 3 0 12345 1000 200";

describe("parseStat", () => {
  it("reads pid, comm, state, ppid, pgid, cpu ticks, threads and start time even with odd command names", () => {
    expect(parseStat(`42 (a) b (c)) ${tail}`)).toEqual({
      pid: 42,
      comm: "a) b (c)",
      state: "S",
      ppid: 7,
      pgid: 99,
      cpuTicks: 11,
      threads: 3,
      startTime: 12345,
    });
  });

  it("rejects text that is not a stat line", () => {
    expect(parseStat("42 no parentheses")).toBeUndefined();
    expect(parseStat("42 (cut) S 7 99")).toBeUndefined();
  });

  it("reads a real child's parent and process group from /proc", async () => {
    const child = spawn("sleep", ["300"], { detached: true, stdio: "ignore" });
    await once(child, "spawn");
    try {
      const stat = readStatSync(child.pid!);
      // A detached child leads its own new group: its pgid is its pid, its parent is us.
      expect(stat).toMatchObject({ pid: child.pid, ppid: process.pid, pgid: child.pid });
      expect(isRunning(stat)).toBe(true);
    } finally {
      const exited = once(child, "exit");
      process.kill(-child.pid!, "SIGKILL");
      await exited;
    }
  });
});
