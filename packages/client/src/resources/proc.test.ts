import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { isRunning, parseStat, readEnvironSync, readStatSync } from "./proc.ts";

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
      kernelThread: false,
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

describe("readEnvironSync", () => {
  it("never reads an empty environment from a live process that is between two programs (inside execve)", async () => {
    // The child replaces itself with a new shell, again and again: each exec has
    // a moment where the kernel shows neither environment nor command line.
    const child = spawn("sh", ["-c", 'exec sh -c "$HSU_REEXEC"'], {
      detached: true,
      stdio: "ignore",
      env: { PATH: process.env.PATH, HSU_MARK: "1", HSU_REEXEC: 'exec sh -c "$HSU_REEXEC"' },
    });
    await once(child, "spawn");
    try {
      let missed = 0;
      const reads = 2000;
      for (let i = 0; i < reads; i++) {
        const environ = readEnvironSync(child.pid!);
        if (!environ?.includes("HSU_MARK=1")) missed++;
      }
      expect(missed, `${missed} of ${reads} reads of a re-exec'ing process's environment came back without its variables`).toBe(0);
    } finally {
      const exited = once(child, "exit");
      process.kill(-child.pid!, "SIGKILL");
      await exited;
    }
  });

  it("reads a process that really has an empty environment as empty, without waiting for it", async () => {
    const child = spawn("sleep", ["300"], { detached: true, stdio: "ignore", env: {} });
    await once(child, "spawn");
    try {
      await expect.poll(() => readStatSync(child.pid!)?.comm).toBe("sleep");
      const started = performance.now();
      expect(readEnvironSync(child.pid!)).toEqual([]);
      expect(performance.now() - started).toBeLessThan(1000); // well inside the settle deadline (2 s)
    } finally {
      const exited = once(child, "exit");
      process.kill(-child.pid!, "SIGKILL");
      await exited;
    }
  });

  it("reads a kernel thread's environment as empty, without waiting for it", () => {
    const kthreadd = readStatSync(2);
    if (kthreadd?.comm !== "kthreadd") return; // no kernel threads in this pid namespace
    expect(readEnvironSync(2) ?? []).toEqual([]);
  });
});
