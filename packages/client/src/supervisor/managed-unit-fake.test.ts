import { describe, expect, it } from "vitest";
import { createFakeClock } from "../clock.ts";
import { createManagedUnit, type ManagedUnitDeps } from "./managed-unit.ts";
import type { HealthMonitor, LimitMonitor, LimitPlan, LimitViolation } from "./ports.ts";
import { validateManagedUnitSpec } from "./spec.ts";
import { createFakeOs, settle } from "./test-support/fake-os.ts";
import { recordEvents } from "./test-support/line-sink.ts";

// The state machine and its timing, driven by a fake OS and a fake clock (no sleeps).
function setup(input: Record<string, unknown>, deps: ManagedUnitDeps = {}) {
  const clock = createFakeClock(0);
  const os = createFakeOs();
  const spec = validateManagedUnitSpec({ id: "u", executable: "sh", gracefulTimeoutMs: 500, ...input });
  const unit = createManagedUnit({ spec, clock, os, ...deps });
  return { clock, os, unit, events: recordEvents(unit) };
}

describe("managed unit timing with a fake clock", () => {
  it("waits exactly the backoff delay, growing per consecutive failure", async () => {
    const { clock, os, unit } = setup({ restart: { policy: "on-failure", delayMs: 1000, backoffMultiplier: 2, maxDelayMs: 3000, resetAfterMs: 60_000 } });
    await unit.start();
    for (const delay of [1000, 2000, 3000, 3000]) {
      const count = os.spawned.length;
      os.spawned.at(-1)!.exit(1);
      await settle();
      expect(unit.snapshot().state).toBe("backoff");
      clock.advance(delay - 1);
      await settle();
      expect(os.spawned).toHaveLength(count);
      clock.advance(1);
      await settle();
      expect(os.spawned).toHaveLength(count + 1);
      expect(unit.snapshot().state).toBe("running");
    }
  });

  it("starts the backoff over after a run longer than resetAfterMs", async () => {
    const { clock, os, unit, events } = setup({ restart: { policy: "always", delayMs: 100, backoffMultiplier: 10, maxDelayMs: 100_000, resetAfterMs: 5000 } });
    await unit.start();
    os.spawned.at(-1)!.exit(1);
    await settle();
    clock.advance(100);
    await settle();
    os.spawned.at(-1)!.exit(1); // quick failure: next delay is 1000
    await settle();
    expect(events.at(-1)?.reason).toContain("in 1000 ms");
    clock.advance(1000);
    await settle();
    clock.advance(5000); // a stable run
    os.spawned.at(-1)!.exit(1);
    await settle();
    expect(events.at(-1)?.reason).toContain("in 100 ms");
  });

  it("escalates to SIGKILL only after the graceful timeout", async () => {
    const { clock, os, unit } = setup({});
    os.exitOnStopSignal = false;
    await unit.start();
    const proc = os.spawned[0]!;
    const stopped = unit.stop();
    expect(proc.signals).toEqual(["SIGTERM"]);
    clock.advance(499);
    expect(proc.signals).toEqual(["SIGTERM"]);
    clock.advance(1);
    expect(proc.signals).toEqual(["SIGTERM", "SIGKILL"]);
    expect(await stopped).toMatchObject({ state: "stopped", lastExit: { signal: "SIGKILL", kind: "stopped" } });
    expect(clock.pending()).toBe(0);
  });

  it("restart() waits for the new process even when no time passes", async () => {
    const { os, unit } = setup({ restart: { policy: "never" } });
    await unit.start();
    const s = await unit.restart();
    expect(os.spawned).toHaveLength(2);
    expect(s).toMatchObject({ state: "running", pid: os.spawned[1]!.pid, restarts: 1 });
  });

  it("a stop requested from an event listener runs after the current transition", async () => {
    const { os, unit, events } = setup({ restart: { policy: "always", delayMs: 0 } });
    unit.onEvent((e) => {
      if (e.type === "exit") void unit.stop("listener");
    });
    await unit.start();
    os.spawned[0]!.exit(1);
    await settle();
    expect(events.map((e) => `${e.type}:${e.to}`)).toEqual(["start:starting", "spawned:running", "exit:exited", "stop:stopped"]);
    expect(os.spawned).toHaveLength(1);
  });

  it("reset is refused while a process is alive", async () => {
    const { unit } = setup({});
    await unit.start();
    expect(() => unit.reset()).toThrow(/unit "u": event "reset" is not allowed in state "running"/);
  });

  it("uses the configured stop signal", async () => {
    const { os, unit } = setup({ stopSignal: "SIGINT" });
    await unit.start();
    await unit.stop();
    expect(os.spawned[0]!.signals).toEqual(["SIGINT"]);
  });

  it("a stop during backoff cancels the restart", async () => {
    const { clock, os, unit, events } = setup({ restart: { policy: "always", delayMs: 1000 } });
    await unit.start();
    os.spawned[0]!.exit(0);
    await settle();
    expect(clock.pending()).toBe(1);
    await unit.stop();
    expect(clock.pending()).toBe(0);
    clock.advance(10_000);
    await settle();
    expect(os.spawned).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: "stop", from: "backoff", to: "stopped" });
  });

  it("a stop while limits are being planned spawns nothing", async () => {
    let release!: (p: LimitPlan) => void;
    const plan: LimitPlan = { wrap: (c, a) => ({ command: c, args: a }), afterSpawn: async () => {}, warnings: [], release: async () => {} };
    const { os, unit } = setup({ limits: { memoryMb: 5 } }, { limitPlanner: () => new Promise((r) => (release = r)) });
    const starting = unit.start();
    await settle();
    expect(unit.snapshot().state).toBe("starting");
    const stopping = unit.stop();
    expect(unit.snapshot().state).toBe("stopping");
    release(plan);
    expect(await stopping).toMatchObject({ state: "stopped" });
    await starting;
    expect(os.spawned).toHaveLength(0);
  });

  it("a spawn failure fails the unit without restarts (restarting cannot help); start tries again", async () => {
    const { clock, os, unit, events } = setup({ restart: { policy: "on-failure", delayMs: 50 } });
    os.failNextSpawn = "EACCES";
    expect(await unit.start()).toMatchObject({ state: "failed" });
    expect(events.map((e) => e.type)).toEqual(["start", "spawn_failed", "retries_exhausted"]);
    expect(events.at(-1)?.reason).toMatch(/^cannot start: /);
    clock.advance(50);
    await settle();
    expect(unit.snapshot().state).toBe("failed");
    expect(await unit.start()).toMatchObject({ state: "running" });
    expect(os.spawned).toHaveLength(1);
  });

  it("exit 127 or 126 (the shell could not run the command) fails the unit without restarts", async () => {
    for (const code of [127, 126]) {
      const { os, unit, events } = setup({ restart: { policy: "always", delayMs: 0 } });
      await unit.start();
      os.spawned[0]!.exit(code);
      await settle();
      expect(unit.snapshot().state).toBe("failed");
      expect(events.at(-1)).toMatchObject({ type: "retries_exhausted", exitCode: code });
      expect(events.at(-1)?.reason).toContain(`exit code ${code}`);
    }
  });
});

function fakeHealth() {
  let listener: ((s: "healthy" | "unhealthy", d: string) => void) | undefined;
  const monitors: { started: boolean; stopped: boolean; pid: number }[] = [];
  return {
    monitors,
    report: (s: "healthy" | "unhealthy", d: string) => listener?.(s, d),
    factory: (_unit: string, target: { pid: number }): HealthMonitor => {
      const m = { started: false, stopped: false, pid: target.pid };
      monitors.push(m);
      return {
        status: "unknown",
        start: () => void (m.started = true),
        stop: () => void (m.stopped = true),
        onChange(l) {
          listener = l;
          return () => (listener = undefined);
        },
      };
    },
  };
}

describe("health through the HealthMonitor port", () => {
  it("healthy -> ready; unhealthy -> graceful kill, counted as a failure for the restart policy", async () => {
    const health = fakeHealth();
    const { clock, os, unit, events } = setup(
      { healthCheck: { any: "thing" }, restart: { policy: "on-failure", delayMs: 10 } },
      { healthMonitorFactory: health.factory },
    );
    await unit.start();
    expect(health.monitors).toEqual([{ started: true, stopped: false, pid: os.spawned[0]!.pid }]);
    health.report("healthy", "ok");
    expect(unit.snapshot().state).toBe("ready");
    health.report("unhealthy", "3 checks failed");
    expect(unit.snapshot().state).toBe("killing");
    expect(os.spawned[0]!.signals).toEqual(["SIGTERM"]);
    await settle();
    // The process exited 0 on SIGTERM, yet it was killed for failing: on-failure restarts it.
    expect(unit.snapshot()).toMatchObject({ state: "backoff", lastExit: { code: 0, kind: "failure" } });
    expect(health.monitors[0]!.stopped).toBe(true);
    expect(events.find((e) => e.type === "unhealthy")?.reason).toBe("unhealthy: 3 checks failed");
    clock.advance(10);
    await settle();
    expect(health.monitors).toHaveLength(2);
  });

  it("without a health check the unit stays running until markReady", async () => {
    const { unit } = setup({});
    await unit.start();
    expect(unit.snapshot().state).toBe("running");
    unit.markReady("handshake done");
    expect(unit.snapshot().state).toBe("ready");
  });
});

function fakeLimits() {
  const calls: string[] = [];
  let violate: ((v: LimitViolation) => void) | undefined;
  const plan: LimitPlan = {
    wrap: (command, args) => ({ command: "/usr/bin/env", args: [command, ...args] }),
    afterSpawn: async (pid) => void calls.push(`afterSpawn ${pid}`),
    warnings: ["cpu limit not supported here"],
    release: async () => void calls.push("release"),
  };
  return {
    calls,
    violate: (v: LimitViolation) => violate?.(v),
    planner: async (unit: string, limits: unknown) => (calls.push(`plan ${unit} ${JSON.stringify(limits)}`), plan),
    monitorFactory: (_unit: string, pid: number): LimitMonitor => {
      calls.push(`monitor ${pid}`);
      return {
        stop: () => void calls.push("monitor stop"),
        onViolation(l) {
          violate = l;
          return () => (violate = undefined);
        },
      };
    },
  };
}

describe("limits through the LimitPlanner/LimitMonitor ports", () => {
  const v = (policy: LimitViolation["policy"]): LimitViolation => ({ limit: "memory", value: 200, max: 100, policy });

  it("wraps the command, applies after spawn, reports warnings and releases after exit", async () => {
    const limits = fakeLimits();
    const { os, unit, events } = setup(
      { limits: { memoryMb: 100 }, restart: { policy: "never" } },
      { limitPlanner: limits.planner, limitMonitorFactory: limits.monitorFactory },
    );
    await unit.start();
    const proc = os.spawned[0]!;
    expect(proc.request.command).toBe("/usr/bin/env");
    expect(proc.request.args[0]).toMatch(/\/sh$/);
    expect(events.find((e) => e.type === "warning")?.reason).toBe("limits: cpu limit not supported here");
    proc.exit(0);
    await settle();
    expect(limits.calls).toEqual([`plan u {"memoryMb":100}`, `afterSpawn ${proc.pid}`, `monitor ${proc.pid}`, "monitor stop", "release"]);
  });

  it("policy log only reports", async () => {
    const limits = fakeLimits();
    const { unit, events } = setup({ limits: {} }, { limitPlanner: limits.planner, limitMonitorFactory: limits.monitorFactory });
    await unit.start();
    limits.violate(v("log"));
    expect(unit.snapshot().state).toBe("running");
    expect(events.at(-1)).toMatchObject({ type: "limit_violation", reason: "limit memory exceeded: 200 > 100 (policy log)" });
  });

  it("policy restart restarts even under restart policy never", async () => {
    const limits = fakeLimits();
    const { os, unit } = setup({ limits: {}, restart: { policy: "never" } }, { limitPlanner: limits.planner, limitMonitorFactory: limits.monitorFactory });
    await unit.start();
    limits.violate(v("restart"));
    await settle();
    expect(os.spawned).toHaveLength(2);
    expect(unit.snapshot()).toMatchObject({ state: "running", restarts: 1 });
  });

  it("policy stop stops for good", async () => {
    const limits = fakeLimits();
    const { clock, unit } = setup({ limits: {}, restart: { policy: "always" } }, { limitPlanner: limits.planner, limitMonitorFactory: limits.monitorFactory });
    await unit.start();
    limits.violate(v("stop"));
    await settle();
    expect(unit.snapshot()).toMatchObject({ state: "stopped", explicitlyStopped: true });
    expect(clock.pending()).toBe(0);
  });

  it("policy kill SIGKILLs the group and then follows the restart policy", async () => {
    const limits = fakeLimits();
    const { os, unit } = setup({ limits: {}, restart: { policy: "on-failure", delayMs: 5 } }, { limitPlanner: limits.planner, limitMonitorFactory: limits.monitorFactory });
    await unit.start();
    limits.violate(v("kill"));
    expect(os.spawned[0]!.signals).toEqual(["SIGKILL"]);
    await settle();
    expect(unit.snapshot()).toMatchObject({ state: "backoff", lastExit: { signal: "SIGKILL", kind: "failure" } });
  });
});

describe("a kind's drain step before the stop signal (fake clock)", () => {
  it("runs the drain first; the stop signal and the SIGKILL escalation follow only once it settled", async () => {
    let finish!: () => void;
    const drains: number[] = [];
    const drain = (_unit: string, pid: number) => {
      drains.push(pid);
      return new Promise<void>((r) => (finish = r));
    };
    const { clock, os, unit } = setup({}, { drain });
    os.exitOnStopSignal = false;
    await unit.start();
    const proc = os.spawned[0]!;
    const stopped = unit.stop();
    expect(drains).toEqual([proc.pid]);
    clock.advance(10_000);
    await settle();
    expect(proc.signals).toEqual([]);
    finish();
    await settle();
    expect(proc.signals).toEqual(["SIGTERM"]);
    clock.advance(500);
    expect(proc.signals).toEqual(["SIGTERM", "SIGKILL"]);
    expect(await stopped).toMatchObject({ state: "stopped", lastExit: { signal: "SIGKILL", kind: "stopped" } });
  });

  it("a unit that leaves during the drain gets no signal; a failing drain is a warning and the stop goes on", async () => {
    const { os, unit, events } = setup({}, { drain: () => Promise.reject(new Error("Shutdown refused")) });
    await unit.start();
    const proc = os.spawned[0]!;
    await unit.stop();
    expect(proc.signals).toEqual(["SIGTERM"]);
    expect(events.some((e) => e.type === "warning" && e.reason.includes("Shutdown refused"))).toBe(true);

    let leave!: () => void;
    const second = setup({}, { drain: () => new Promise<void>((r) => (leave = r)) });
    await second.unit.start();
    const p2 = second.os.spawned[0]!;
    const stopping = second.unit.stop();
    p2.exit(0);
    await settle();
    leave();
    expect(await stopping).toMatchObject({ state: "stopped" });
    expect(p2.signals).toEqual([]);
  });

  it("fail() ends a live process as a crash (the restart policy decides) and is ignored when nothing runs", async () => {
    const { os, unit } = setup({ restart: { policy: "on-failure", delayMs: 100 } });
    unit.fail("no handshake");
    expect(unit.snapshot().state).toBe("stopped");
    await unit.start();
    unit.fail("no handshake");
    await settle();
    expect(os.spawned[0]!.signals).toEqual(["SIGTERM"]);
    expect(unit.snapshot()).toMatchObject({ state: "backoff", lastExit: { kind: "failure" } });
  });
});
