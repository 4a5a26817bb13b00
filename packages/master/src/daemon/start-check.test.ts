import { describe, expect, it } from "vitest";
import type { UnitView } from "./slot.ts";
import type { UnitState } from "./state.ts";
import { startError, unbuildableMonitor, waitUntilStarted, withDeadline } from "./start-check.ts";

const view = (id: string, state: UnitState, startedAt?: number): UnitView => ({
  id, kind: "managed", state, pid: undefined, startedAt, restarts: 0, health: "", address: "", lastExit: "", pool: "", description: "", nextRun: undefined,
});

describe("waitUntilStarted", () => {
  it("reports failed units with their reason and waits for the others to settle", async () => {
    let t = 0;
    let views = [view("a", "starting"), view("b", "failed"), view("c", "idle")];
    const failures = await waitUntilStarted({
      views: () => {
        t += 500;
        if (t === 1000) views = [view("a", "running", 1000), views[1]!, views[2]!];
        return views;
      },
      config: () => undefined,
      failedReason: (id) => (id === "b" ? "cannot start: exit code 127 (command not found)" : undefined),
      now: () => t,
      pollMs: 0,
    });
    expect(failures).toEqual([{ unit: "b", reason: "cannot start: exit code 127 (command not found)" }]);
    expect(t).toBeGreaterThanOrEqual(2000);
  });

  it("gives up on a unit still starting at its start timeout, with a message", async () => {
    let t = 0;
    const failures = await waitUntilStarted({
      views: () => [view("slow", "starting")],
      config: () => ({ startTimeoutMs: 3000 }) as never,
      failedReason: () => undefined,
      now: () => (t += 100),
      pollMs: 0,
    });
    expect(failures[0]!.unit).toBe("slow");
    expect(failures[0]!.reason).toMatch(/still starting after \d+s \(units\.slow\.start_timeout\)/);
  });

  it("names every failure and the dependents left out", () => {
    const e = startError([{ unit: "db", reason: "cannot start: x" }], new Error('not started: dependency "db" did not become started: failed'));
    expect(e.message).toBe('1 unit did not start: db: cannot start: x; not started: dependency "db" did not become started: failed');
  });
});

describe("unbuildableMonitor", () => {
  it("reports unhealthy with the reason once started, and nothing after stop", async () => {
    const m = unbuildableMonitor("the health check cannot be built: boom");
    const seen: string[] = [];
    m.onChange((s, d) => seen.push(`${s}: ${d}`));
    m.start();
    await Promise.resolve();
    expect(seen).toEqual(["unhealthy: the health check cannot be built: boom"]);
    expect(m.status).toBe("unhealthy");
  });
});

describe("withDeadline", () => {
  it("rejects with deadline_exceeded and a message instead of waiting forever", async () => {
    await expect(withDeadline(new Promise(() => {}), 10, 'stopping "api"', "api")).rejects.toMatchObject({ code: "deadline_exceeded" });
    await expect(withDeadline(Promise.resolve(5), 10, "x")).resolves.toBe(5);
  });
});
