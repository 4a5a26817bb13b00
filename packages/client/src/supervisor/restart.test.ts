import { describe, expect, it } from "vitest";
import { createFakeClock } from "../clock.ts";
import { createRestartTracker, restartDelay, shouldRestart, shouldStartOnBoot, type ExitKind } from "./restart.ts";
import { defaultRestart, type RestartPolicyName, type RestartSpec } from "./spec.ts";

const spec = (over: Partial<RestartSpec>): RestartSpec => ({ ...defaultRestart, ...over });

describe("shouldRestart", () => {
  const expected: Record<RestartPolicyName, Record<ExitKind, boolean>> = {
    never: { success: false, failure: false, signal: false, stopped: false, unknown: false },
    "on-failure": { success: false, failure: true, signal: true, stopped: false, unknown: true },
    always: { success: true, failure: true, signal: true, stopped: false, unknown: true },
    "unless-stopped": { success: true, failure: true, signal: true, stopped: false, unknown: true },
  };
  for (const [policy, row] of Object.entries(expected)) {
    for (const [kind, want] of Object.entries(row)) {
      it(`${policy} after ${kind} -> ${want ? "restart" : "stay down"}`, () => {
        expect(shouldRestart(policy as RestartPolicyName, kind as ExitKind)).toBe(want);
      });
    }
  }
});

describe("shouldStartOnBoot", () => {
  it("unless-stopped remembers an explicit stop across master restarts; always does not", () => {
    const u = { autoStart: true, restart: { policy: "unless-stopped" as const } };
    const a = { autoStart: true, restart: { policy: "always" as const } };
    expect(shouldStartOnBoot(u, { explicitlyStopped: true })).toBe(false);
    expect(shouldStartOnBoot(u, { explicitlyStopped: false })).toBe(true);
    expect(shouldStartOnBoot(a, { explicitlyStopped: true })).toBe(true);
    expect(shouldStartOnBoot({ autoStart: false, restart: { policy: "on-failure" } }, undefined)).toBe(false);
  });
});

describe("restartDelay", () => {
  it("grows by the multiplier and is capped", () => {
    const s = { delayMs: 100, backoffMultiplier: 3, maxDelayMs: 2000 };
    expect([0, 1, 2, 3, 4].map((n) => restartDelay(s, n))).toEqual([100, 300, 900, 2000, 2000]);
  });
});

describe("createRestartTracker with a fake clock", () => {
  it("backs off exponentially across consecutive quick failures", () => {
    const clock = createFakeClock(1_000);
    const t = createRestartTracker(spec({ delayMs: 200, backoffMultiplier: 2, maxDelayMs: 1000, resetAfterMs: 5000 }), clock);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      t.runStarted();
      clock.advance(100);
      const d = t.decide("failure");
      if (d.action !== "restart") throw new Error(`expected restart, got ${d.action}`);
      delays.push(d.delayMs);
      clock.advance(d.delayMs);
    }
    expect(delays).toEqual([200, 400, 800, 1000, 1000]);
    expect(t.total).toBe(5);
  });

  it("starts the backoff over after a run that lasted resetAfterMs", () => {
    const clock = createFakeClock();
    const t = createRestartTracker(spec({ delayMs: 100, backoffMultiplier: 2, resetAfterMs: 1000 }), clock);
    t.runStarted();
    clock.advance(10);
    expect(t.decide("failure")).toMatchObject({ action: "restart", delayMs: 100 });
    t.runStarted();
    clock.advance(10);
    expect(t.decide("failure")).toMatchObject({ action: "restart", delayMs: 200 });
    t.runStarted();
    clock.advance(999);
    expect(t.decide("failure")).toMatchObject({ action: "restart", delayMs: 400 });
    t.runStarted();
    clock.advance(1000);
    expect(t.decide("failure")).toMatchObject({ action: "restart", delayMs: 100, attempt: 0 });
  });

  it("opens the breaker when one more restart would exceed maxRestarts in the window", () => {
    const clock = createFakeClock();
    const t = createRestartTracker(spec({ delayMs: 0, breaker: { windowMs: 10_000, maxRestarts: 3 } }), clock);
    const actions: string[] = [];
    for (let i = 0; i < 4; i++) {
      t.runStarted();
      clock.advance(1000);
      actions.push(t.decide("signal").action);
    }
    expect(actions).toEqual(["restart", "restart", "restart", "breaker_open"]);
  });

  it("lets old restarts slide out of the breaker window", () => {
    const clock = createFakeClock();
    const t = createRestartTracker(spec({ delayMs: 0, breaker: { windowMs: 10_000, maxRestarts: 2 } }), clock);
    t.runStarted();
    expect(t.decide("failure").action).toBe("restart"); // t=0
    clock.advance(6_000);
    expect(t.decide("failure").action).toBe("restart"); // t=6000
    clock.advance(3_000);
    expect(t.decide("failure").action).toBe("breaker_open"); // t=9000: two in window
    clock.advance(1_000);
    expect(t.decide("failure").action).toBe("restart"); // t=10000: the one at 0 left the window
  });

  it("gives up after maxRetries consecutive restarts, and reset() forgets them", () => {
    const clock = createFakeClock();
    const t = createRestartTracker(spec({ maxRetries: 2, delayMs: 0 }), clock);
    expect(t.decide("failure").action).toBe("restart");
    expect(t.decide("failure").action).toBe("restart");
    expect(t.decide("failure").action).toBe("retries_exhausted");
    t.reset();
    expect(t.decide("failure").action).toBe("restart");
  });

  it("does not count a decision that does not restart", () => {
    const t = createRestartTracker(spec({ policy: "on-failure" }), createFakeClock());
    expect(t.decide("success")).toMatchObject({ action: "none" });
    expect(t.decide("stopped")).toMatchObject({ action: "none" });
    expect(t.total).toBe(0);
  });
});

describe("createFakeClock", () => {
  it("fires due timers in due order, including ones set while advancing, and skips cancelled ones", () => {
    const clock = createFakeClock(0);
    const fired: string[] = [];
    clock.setTimer(30, () => fired.push(`c@${clock.now()}`));
    const b = clock.setTimer(20, () => fired.push("b"));
    clock.setTimer(10, () => {
      fired.push(`a@${clock.now()}`);
      clock.setTimer(5, () => fired.push(`a2@${clock.now()}`));
    });
    b.cancel();
    clock.advance(25);
    expect(fired).toEqual(["a@10", "a2@15"]);
    expect(clock.now()).toBe(25);
    clock.advance(5);
    expect(fired).toEqual(["a@10", "a2@15", "c@30"]);
    expect(clock.pending()).toBe(0);
  });

  it("sleep resolves on advance and rejects on abort", async () => {
    const clock = createFakeClock();
    const done = clock.sleep(50);
    clock.advance(50);
    await done;
    const ac = new AbortController();
    const aborted = clock.sleep(50, ac.signal);
    ac.abort(new Error("stop"));
    await expect(aborted).rejects.toThrow("stop");
    expect(clock.pending()).toBe(0);
  });
});
