import { describe, expect, it } from "vitest";
import { createFakeClock } from "../clock.ts";
import { createCronSchedule, type RunResult } from "./scheduler.ts";

const T0 = Date.parse("2026-11-26T10:00:03Z");

/** A run the test ends by hand. */
function controllableRuns() {
  const runs: { startedAt: number; finish: (r: RunResult) => void; signal: AbortSignal }[] = [];
  return {
    runs,
    run: (clock: { now(): number }) => (signal: AbortSignal) =>
      new Promise<RunResult>((resolve) => {
        runs.push({ startedAt: clock.now(), finish: resolve, signal });
        signal.addEventListener("abort", () => resolve({ exitCode: null, signal: "SIGTERM" }));
      }),
  };
}

const flush = () => new Promise((r) => setImmediate(r));

describe("createCronSchedule", () => {
  it("runs at the right seconds, computed from the expression", async () => {
    const clock = createFakeClock(T0);
    const c = controllableRuns();
    const s = createCronSchedule({ unit: "job", cron: "*/5 * * * * *", timezone: "UTC", run: c.run(clock), clock });
    expect(new Date(s.nextRun()!).toISOString()).toBe("2026-11-26T10:00:05.000Z");
    for (let i = 0; i < 3; i++) {
      clock.advance(5000);
      c.runs.at(-1)!.finish({ exitCode: 0, signal: null });
      await flush();
    }
    expect(c.runs.map((r) => new Date(r.startedAt).toISOString().slice(11, 19))).toEqual(["10:00:05", "10:00:10", "10:00:15"]);
    expect(s.history().map((h) => h.outcome)).toEqual(["succeeded", "succeeded", "succeeded"]);
    await s.stop();
  });

  it("honours the time zone", () => {
    const clock = createFakeClock(Date.parse("2026-01-01T00:00:00Z"));
    const s = createCronSchedule({ unit: "job", cron: "0 0 3 * * *", timezone: "Europe/Berlin", run: async () => ({ exitCode: 0, signal: null }), clock });
    expect(new Date(s.nextRun()!).toISOString()).toBe("2026-01-01T02:00:00.000Z");
    void s.stop();
  });

  it("skip: a run due while the last still runs is recorded as skipped", async () => {
    const clock = createFakeClock(T0);
    const c = controllableRuns();
    const s = createCronSchedule({ unit: "job", cron: "*/5 * * * * *", overlap: "skip", run: c.run(clock), clock });
    clock.advance(2000); // 10:00:05 starts
    clock.advance(5000); // 10:00:10 is due while it runs
    expect(c.runs).toHaveLength(1);
    c.runs[0]!.finish({ exitCode: 1, signal: null });
    await flush();
    expect(s.history().map((h) => h.outcome)).toEqual(["skipped", "failed"]);
    await s.stop();
  });

  it("queue: due runs wait and run one after another", async () => {
    const clock = createFakeClock(T0);
    const c = controllableRuns();
    const s = createCronSchedule({ unit: "job", cron: "*/5 * * * * *", overlap: "queue", run: c.run(clock), clock });
    clock.advance(2000); // :05 starts
    clock.advance(10_000); // :10 and :15 queue
    expect(c.runs).toHaveLength(1);
    c.runs[0]!.finish({ exitCode: 0, signal: null });
    await flush();
    expect(c.runs).toHaveLength(2);
    c.runs[1]!.finish({ exitCode: 0, signal: null });
    await flush();
    expect(c.runs).toHaveLength(3);
    c.runs[2]!.finish({ exitCode: 0, signal: null });
    await flush();
    expect(s.history().map((h) => new Date(h.dueAt).toISOString().slice(17, 19))).toEqual(["05", "10", "15"]);
    await s.stop();
  });

  it("replace: a due run aborts the one still going", async () => {
    const clock = createFakeClock(T0);
    const c = controllableRuns();
    const s = createCronSchedule({ unit: "job", cron: "*/5 * * * * *", overlap: "replace", run: c.run(clock), clock });
    clock.advance(2000);
    clock.advance(5000);
    await flush();
    expect(c.runs[0]!.signal.aborted).toBe(true);
    expect(c.runs).toHaveLength(2);
    c.runs[1]!.finish({ exitCode: 0, signal: null });
    await flush();
    expect(s.history().map((h) => h.outcome)).toEqual(["replaced", "succeeded"]);
    await s.stop();
  });

  it("rejects a bad expression naming the unit and field", () => {
    expect(() => createCronSchedule({ unit: "job", cron: "every day", run: async () => ({ exitCode: 0, signal: null }) })).toThrow(
      /unit "job": schedule.cron: bad cron expression "every day"/,
    );
  });
});
