import { Code, createClient } from "@connectrpc/connect";
import { HealthCheckResponse_ServingStatus as Status } from "@hsu/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import type { LaunchedUnit } from "../core/launch.ts";
import { createRegistrar, type Registrar } from "../core/registrar.ts";
import { createFakeClock, type FakeClock } from "../clock.ts";
import { createIntegratedUnit, type IntegratedUnit } from "./integrated-unit.ts";
import { createLaunchStart } from "./launch-start.ts";
import { alive, echoCommand, nextEvent, probeCommand } from "./test-support/echo.ts";

// Idle logic on a manual clock: time only moves when the test says, so these
// tests never sleep; the unit and its calls are real.
let registrar: Registrar;
const units: IntegratedUnit[] = [];
const pids: number[] = [];
let seq = 0;

beforeAll(async () => {
  registrar = await createRegistrar();
});
afterEach(async () => {
  await Promise.all(units.splice(0).map((u) => u.close()));
  for (const pid of pids.splice(0)) if (alive(pid)) process.kill(-pid, "SIGKILL");
});
afterAll(() => registrar.close());

const IDLE = 1000;

async function runningUnit(clock: FakeClock): Promise<IntegratedUnit> {
  const id = `idle-${process.pid}-${seq++}`;
  const unit = createIntegratedUnit({
    id,
    clock,
    idleTimeoutMs: IDLE,
    start: createLaunchStart({ id, registrar, ...echoCommand, onLaunched: (u) => pids.push(u.pid) }),
  });
  units.push(unit);
  await unit.start();
  return unit;
}

describe("idle shutdown on a manual clock", () => {
  it("stops exactly when the idle timeout has passed with nothing in flight", async () => {
    const clock = createFakeClock();
    const unit = await runningUnit(clock);
    clock.advance(IDLE - 1);
    expect(unit.state).toBe("running");
    const stopped = nextEvent(unit, "stopped");
    clock.advance(1);
    expect(unit.state).toBe("stopping");
    expect((await stopped).exit).toEqual({ code: 0, signal: null });
  });

  it("holds the unit up while a unary call is in flight, and restarts the timer when it ends", async () => {
    const clock = createFakeClock();
    const unit = await runningUnit(clock);
    const echo = unit.client(EchoService);
    const slow = echo.echo({ message: "slow", delayMs: 300 });
    expect(unit.inFlight).toBe(1);
    clock.advance(IDLE * 10);
    expect(unit.state).toBe("running");
    expect((await slow).message).toBe("slow");
    expect(unit.inFlight).toBe(0);
    // The timer starts over from the end of the call, not from before it.
    clock.advance(IDLE - 1);
    expect(unit.state).toBe("running");
    clock.advance(1);
    expect(unit.state).toBe("stopping");
  });

  it("holds the unit up while a server stream is open, until the reader stops", async () => {
    const clock = createFakeClock();
    const unit = await runningUnit(clock);
    const abort = new AbortController();
    let gotFirst!: (s: Status) => void;
    const first = new Promise<Status>((r) => (gotFirst = r));
    const reading = (async () => {
      for await (const r of unit.health.watch({ service: "" }, { signal: abort.signal })) gotFirst(r.status);
    })().catch((e: unknown) => e);
    expect(await first).toBe(Status.SERVING);
    expect(unit.inFlight).toBe(1);
    clock.advance(IDLE * 60);
    expect(unit.state).toBe("running");
    abort.abort();
    await reading;
    expect(unit.inFlight).toBe(0);
    clock.advance(IDLE - 1);
    expect(unit.state).toBe("running");
    clock.advance(1);
    expect(unit.state).toBe("stopping");
  });

  it("counts a stream the reader leaves with break as ended", async () => {
    const clock = createFakeClock();
    const unit = await runningUnit(clock);
    for await (const r of unit.health.watch({ service: "" })) {
      expect(r.status).toBe(Status.SERVING);
      break;
    }
    expect(unit.inFlight).toBe(0);
    clock.advance(IDLE);
    expect(unit.state).toBe("stopping");
  });

  it("restarts the timer after each call: sequential calls spaced under the timeout keep it up", async () => {
    const clock = createFakeClock();
    const unit = await runningUnit(clock);
    const echo = createClient(EchoService, unit.transport);
    for (let i = 0; i < 5; i++) {
      clock.advance(IDLE - 100);
      expect(unit.state).toBe("running");
      await echo.echo({ message: `keep ${i}` });
    }
    clock.advance(IDLE - 1);
    expect(unit.state).toBe("running");
    clock.advance(1);
    expect(unit.state).toBe("stopping");
  });

  it("never stops while several calls overlap; only after the last one ends", async () => {
    const clock = createFakeClock();
    const unit = await runningUnit(clock);
    const echo = unit.client(EchoService);
    const long = echo.echo({ message: "long", delayMs: 400 });
    await echo.echo({ message: "short" });
    expect(unit.inFlight).toBe(1);
    clock.advance(IDLE * 5);
    expect(unit.state).toBe("running");
    await long;
    clock.advance(IDLE);
    expect(unit.state).toBe("stopping");
  });
});

describe("start timeout on a manual clock", () => {
  it("fails waiting calls when a start function ignores the abort, and stops the process it brings up late", async () => {
    const clock = createFakeClock();
    const id = `late-${process.pid}-${seq++}`;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let cameUp!: (u: LaunchedUnit) => void;
    const lateUnit = new Promise<LaunchedUnit>((r) => (cameUp = r));
    const launch = createLaunchStart({ id, registrar, ...echoCommand, onLaunched: (u) => pids.push(u.pid) });
    const unit = createIntegratedUnit({
      id,
      clock,
      startTimeoutMs: 5000,
      killGraceMs: 2000,
      idleTimeoutMs: Infinity,
      // Ignores its signal: waits for the gate, then launches regardless.
      start: async () => {
        await gate;
        const launched = await launch(new AbortController().signal);
        cameUp(launched);
        return launched;
      },
    });
    units.push(unit);
    const failed = nextEvent(unit, "start_failed");
    const call = unit.client(EchoService).echo({ message: "too late" });
    clock.advance(5000);
    // Aborted, but the start has the kill grace to give up on its own.
    expect(unit.state).toBe("starting");
    clock.advance(2000);
    await expect(call).rejects.toMatchObject({
      code: Code.Unavailable,
      message: expect.stringContaining("did not complete the handshake within 5000 ms"),
    });
    await failed;
    expect(unit.state).toBe("stopped");
    release();
    // The orphan comes up after all; the integrated unit stops it instead of leaking it.
    expect(await (await lateUnit).exited).toEqual({ code: 0, signal: null });
    expect(unit.state).toBe("stopped");
  });
});

describe("stop escalation on a manual clock (real unit that drains but does not exit, and ignores SIGTERM)", () => {
  it("after Shutdown waits the deadline, then SIGTERM, then SIGKILL after the grace period, to the process group", async () => {
    const clock = createFakeClock();
    const id = `stubborn-${process.pid}-${seq++}`;
    const lines: string[] = [];
    const saw = (want: string) =>
      until(`the unit printed "${want}" (it printed ${JSON.stringify(lines)})`, () => lines.some((l) => l.includes(want)));
    const launched = await createLaunchStart({
      id,
      registrar,
      ...probeCommand,
      env: { PROBE_IGNORE: "SIGTERM" },
      clock,
      killGraceMs: 2000,
      output: (stream, source) => {
        if (stream === "stdout") source.setEncoding("utf8").on("data", (d: string) => lines.push(...d.split("\n").filter(Boolean)));
        else source.resume();
      },
      onLaunched: (u) => pids.push(u.pid),
    })(new AbortController().signal);
    const stopping = launched.stop(3000);
    await saw("drained");
    // The drain deadline runs on the manual clock from the moment Shutdown was answered.
    await until("the drain deadline is armed", () => clock.pending() === 1);
    clock.advance(2999);
    expect(lines.some((l) => l.includes("got SIGTERM"))).toBe(false);
    clock.advance(1);
    await saw("got SIGTERM");
    expect(alive(launched.pid)).toBe(true);
    await until("the kill grace is armed", () => clock.pending() === 1);
    clock.advance(2000);
    expect(await stopping).toEqual({ code: null, signal: "SIGKILL" });
    expect(alive(launched.pid)).toBe(false);
    expect(clock.pending()).toBe(0);
  });
});

/** Polls a condition the test cannot await directly (a timer armed after I/O), with a real deadline and a message. */
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
