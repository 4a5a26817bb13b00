import { afterEach, describe, expect, it, vi } from "vitest";
import { validateResourceLimits } from "./limits.ts";
import { createJudge, createLimitMonitorFactory, type LimitViolation } from "./monitor.ts";
import type { ResourceUsage } from "./sampler.ts";
import { createFakeClock } from "../clock.ts";
import { killAllTestChildren, spawnPython } from "./test-support/children.ts";

afterEach(killAllTestChildren);

const MB = 1024 * 1024;

function usage(partial: Partial<ResourceUsage>): ResourceUsage {
  return { pid: 1, alive: true, at: 0, cpuPercent: 0, rssBytes: 0, openFds: 0, threads: 1, pids: [1], processes: [], ...partial };
}

describe("limit judge", () => {
  it("reports one memory violation per episode", () => {
    const judge = createJudge(validateResourceLimits({ memoryBytes: 10 * MB }, { unit: "u", field: "limits" }));
    expect(judge(usage({ rssBytes: 5 * MB }))).toEqual([]);
    expect(judge(usage({ rssBytes: 11 * MB }))).toEqual([{ limit: "memoryBytes", value: 11 * MB, max: 10 * MB, policy: "restart" }]);
    expect(judge(usage({ rssBytes: 12 * MB }))).toEqual([]);
    expect(judge(usage({ rssBytes: 9 * MB }))).toEqual([]);
    expect(judge(usage({ rssBytes: 13 * MB }))).toHaveLength(1);
  });

  it("reports CPU only when it stays above the limit for cpuSustainSamples samples", () => {
    const judge = createJudge(validateResourceLimits({ cpuCores: 0.5, cpuSustainSamples: 2, policy: "kill" }, { unit: "u", field: "limits" }));
    // The first sample is a lifetime average and never counts.
    expect(judge(usage({ cpuPercent: 400 }))).toEqual([]);
    expect(judge(usage({ cpuPercent: 90 }))).toEqual([]);
    expect(judge(usage({ cpuPercent: 10 }))).toEqual([]);
    expect(judge(usage({ cpuPercent: 90 }))).toEqual([]);
    expect(judge(usage({ cpuPercent: 80 }))).toEqual([{ limit: "cpuCores", value: 0.8, max: 0.5, policy: "kill" }]);
    expect(judge(usage({ cpuPercent: 80 }))).toEqual([]);
  });

  it("checks processes for the tree and open files per process", () => {
    const judge = createJudge(validateResourceLimits({ maxProcesses: 2, maxOpenFiles: 10 }, { unit: "u", field: "limits" }));
    const proc = (pid: number, openFds: number) => ({ pid, ppid: 1, name: "x", rssBytes: 0, openFds, threads: 1 });
    expect(judge(usage({ pids: [1, 2], processes: [proc(1, 8), proc(2, 8)] }))).toEqual([]);
    expect(judge(usage({ pids: [1, 2, 3], processes: [proc(1, 8), proc(2, 11), proc(3, 1)] })).map((v) => v.limit)).toEqual([
      "maxProcesses",
      "maxOpenFiles",
    ]);
  });
});

describe("limit monitor", () => {
  it("reports a memoryBytes violation for a real child that allocates past the limit", async () => {
    const t = spawnPython("import sys\nprint('ready')\nsys.stdin.readline()\nb = bytearray(b'x') * (80 * 1024 * 1024)\nprint('allocated')\nsys.stdin.read()");
    await t.firstLine;
    const monitor = createLimitMonitorFactory()("hog", t.pid, { memoryBytes: 50 * MB, checkIntervalMs: 20, policy: "stop" });
    try {
      const violation = new Promise<LimitViolation>((resolve) => monitor.onViolation(resolve));
      t.child.stdin!.write("go\n");
      const v = await violation;
      expect(v).toMatchObject({ limit: "memoryBytes", max: 50 * MB, policy: "stop" });
      expect(v.value).toBeGreaterThan(50 * MB);
    } finally {
      monitor.stop();
    }
  });

  it("samples on the injected clock, reports an episode once and stops cleanly", async () => {
    const code = "import subprocess, sys\nkids = [subprocess.Popen(['sleep', '300']) for _ in range(3)]\nprint('ready')\nsys.stdin.read()";
    const t = spawnPython(code);
    await t.firstLine;
    const clock = createFakeClock();
    const usages: number[] = [];
    const monitor = createLimitMonitorFactory({ clock, onUsage: (_, u) => usages.push(u.pids.length) })("forks", t.pid, {
      maxProcesses: 2,
      checkIntervalMs: 5000,
    });
    const violations: LimitViolation[] = [];
    monitor.onViolation((v) => violations.push(v));
    // The first sample runs at once; the next one waits checkIntervalMs on the clock.
    await vi.waitFor(() => expect(clock.pending()).toBe(1));
    expect(violations).toEqual([{ limit: "maxProcesses", value: 4, max: 2, policy: "restart" }]);
    clock.advance(4999);
    expect(clock.pending()).toBe(1);
    clock.advance(1);
    expect(clock.pending()).toBe(0);
    await vi.waitFor(() => expect(usages).toHaveLength(2));
    await vi.waitFor(() => expect(clock.pending()).toBe(1));
    expect(violations).toHaveLength(1);
    monitor.stop();
    expect(clock.pending()).toBe(0);
  });
});
