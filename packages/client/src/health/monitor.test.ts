import { describe, expect, it } from "vitest";
import { createFakeClock } from "../clock.ts";
import { createHealthMonitor } from "./monitor.ts";
import type { Probe, ProbeResult } from "./probes/index.ts";
import { validateHealthCheckSpec } from "./validate.ts";

/** A probe the test answers by hand: every run waits until `answer` is called. */
function controllableProbe() {
  const runs: { signal: AbortSignal; answer: (r: ProbeResult) => void }[] = [];
  let closed = 0;
  const probe: Probe = {
    run: (signal) => new Promise((resolve) => runs.push({ signal, answer: resolve })),
    close: () => void closed++,
  };
  return { probe, runs, closed: () => closed };
}

/** Lets the monitor's promise callbacks run (one macrotask turn; no time passes on the clock). */
const settle = () => new Promise((r) => setImmediate(r));

const spec = (extra: Record<string, unknown> = {}) =>
  validateHealthCheckSpec({ type: "process", intervalMs: 1000, timeoutMs: 300, ...extra }, { unit: "u", field: "health" });

describe("health monitor thresholds and timing (manual clock)", () => {
  it("waits the initial delay, then probes every interval after the previous probe ends", async () => {
    const clock = createFakeClock();
    const p = controllableProbe();
    const m = createHealthMonitor(spec({ initialDelayMs: 5000 }), { pid: 1 }, { clock, probe: p.probe });
    m.start();
    clock.advance(4999);
    expect(p.runs.length).toBe(0);
    clock.advance(1);
    expect(p.runs.length).toBe(1);
    clock.advance(200); // still in flight, within the timeout: no second probe
    expect(p.runs.length).toBe(1);
    p.runs[0]!.answer({ ok: true, detail: "fine" });
    await settle();
    clock.advance(999);
    expect(p.runs.length).toBe(1);
    clock.advance(1);
    expect(p.runs.length).toBe(2);
    m.stop();
  });

  it("changes status only after N consecutive results and reports each change once", async () => {
    const clock = createFakeClock();
    const p = controllableProbe();
    const m = createHealthMonitor(spec({ successThreshold: 2, failureThreshold: 3 }), { pid: 1 }, { clock, probe: p.probe });
    const changes: string[] = [];
    m.onChange((s, d) => changes.push(`${s}:${d}`));
    m.start();
    const step = async (ok: boolean) => {
      clock.advance(p.runs.length === 0 ? 0 : 1000);
      p.runs.at(-1)!.answer({ ok, detail: ok ? "up" : "down" });
      await settle();
    };
    await step(true);
    expect(m.status).toBe("unknown");
    await step(true);
    expect(m.status).toBe("healthy");
    await step(false);
    await step(false);
    await step(true); // breaks the failure run
    await step(false);
    await step(false);
    expect(m.status).toBe("healthy");
    await step(false);
    expect(m.status).toBe("unhealthy");
    await step(true);
    await step(false); // breaks the success run
    await step(true);
    expect(m.status).toBe("unhealthy");
    await step(true);
    expect(m.status).toBe("healthy");
    expect(changes).toEqual(["healthy:up", "unhealthy:down", "healthy:up"]);
    m.stop();
  });

  it("counts a probe that outlives timeoutMs as a failure and aborts it", async () => {
    const clock = createFakeClock();
    const p = controllableProbe();
    const m = createHealthMonitor(spec({ failureThreshold: 1 }), { pid: 1 }, { clock, probe: p.probe });
    const changes: string[] = [];
    m.onChange((s, d) => changes.push(`${s}:${d}`));
    m.start();
    clock.advance(299);
    expect(p.runs[0]!.signal.aborted).toBe(false);
    clock.advance(1);
    expect(p.runs[0]!.signal.aborted).toBe(true);
    await settle();
    expect(m.status).toBe("unhealthy");
    expect(changes).toEqual(["unhealthy:timed out after 300 ms"]);
    p.runs[0]!.answer({ ok: true, detail: "too late" }); // a late answer is ignored
    await settle();
    expect(m.status).toBe("unhealthy");
    clock.advance(1000);
    expect(p.runs.length).toBe(2);
    m.stop();
  });

  it("stop aborts the probe in flight, cancels timers, closes the probe and reports nothing more", async () => {
    const clock = createFakeClock();
    const p = controllableProbe();
    const m = createHealthMonitor(spec({ failureThreshold: 1 }), { pid: 1 }, { clock, probe: p.probe });
    const changes: string[] = [];
    m.onChange((s) => changes.push(s));
    m.start();
    m.start(); // idempotent
    clock.advance(0);
    expect(p.runs.length).toBe(1);
    m.stop();
    expect(p.runs[0]!.signal.aborted).toBe(true);
    expect(p.closed()).toBe(1);
    expect(clock.pending()).toBe(0);
    p.runs[0]!.answer({ ok: false, detail: "x" });
    await settle();
    clock.advance(10_000);
    expect(p.runs.length).toBe(1);
    expect(changes).toEqual([]);
    expect(m.status).toBe("unknown");
  });

  it("counts a probe that throws as a failure, with the error in the detail", async () => {
    const clock = createFakeClock();
    let calls = 0;
    const probe: Probe = {
      run: () => {
        if (calls++ === 0) throw new Error("boom"); // synchronously
        return Promise.reject(new Error("boom"));
      },
      close: () => undefined,
    };
    const m = createHealthMonitor(spec({ failureThreshold: 2 }), { pid: 1 }, { clock, probe });
    const changes: string[] = [];
    m.onChange((s, d) => changes.push(`${s}:${d}`));
    m.start();
    clock.advance(0);
    await settle();
    expect(m.status).toBe("unknown");
    clock.advance(1000);
    await settle();
    expect(changes).toEqual(["unhealthy:probe failed: boom"]);
    m.stop();
  });

  it("leaves no timer pending on the clock once stopped", async () => {
    const clock = createFakeClock();
    const p = controllableProbe();
    const m = createHealthMonitor(spec({ initialDelayMs: 50 }), { pid: 1 }, { clock, probe: p.probe });
    m.start();
    clock.advance(49);
    expect(p.runs.length).toBe(0);
    clock.advance(1);
    expect(p.runs.length).toBe(1);
    m.stop();
    expect(clock.pending()).toBe(0);
  });

  it("an unsubscribed listener hears nothing", async () => {
    const clock = createFakeClock();
    const p = controllableProbe();
    const m = createHealthMonitor(spec(), { pid: 1 }, { clock, probe: p.probe });
    const heard: string[] = [];
    const off = m.onChange((s) => heard.push(s));
    off();
    m.start();
    clock.advance(0);
    p.runs[0]!.answer({ ok: true, detail: "ok" });
    await settle();
    expect(m.status).toBe("healthy");
    expect(heard).toEqual([]);
    m.stop();
  });
});
