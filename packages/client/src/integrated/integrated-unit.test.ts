import { Code, ConnectError } from "@connectrpc/connect";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { createRegistrar, type Registrar } from "../core/registrar.ts";
import { createIntegratedUnit, type IntegratedUnit, type IntegratedUnitOptions } from "./integrated-unit.ts";
import { createLaunchStart } from "./launch-start.ts";
import { alive, countingStart, echoCommand, nextEvent, pidsOfUnit, recordEvents, whenReady } from "./test-support/echo.ts";

let registrar: Registrar;
const units: IntegratedUnit[] = [];
const started: number[] = [];
let seq = 0;

beforeAll(async () => {
  registrar = await createRegistrar();
});
afterEach(async () => {
  await Promise.all(units.splice(0).map((u) => u.close()));
  // Backstop: nothing a test started may outlive it, even if close() is broken.
  for (const pid of started.splice(0)) {
    if (alive(pid)) process.kill(-pid, "SIGKILL");
  }
});
afterAll(() => registrar.close());

function unitId(): string {
  return `iu-${process.pid}-${seq++}`;
}

function echoUnit(overrides: Partial<IntegratedUnitOptions> = {}, launch: { command: string; args: string[]; env?: Record<string, string> } = echoCommand) {
  const id = overrides.id ?? unitId();
  const start = countingStart(createLaunchStart({ id, registrar, ...launch, onLaunched: (u) => started.push(u.pid) }));
  const unit = createIntegratedUnit({ id, start, idleTimeoutMs: Infinity, startTimeoutMs: 20_000, ...overrides });
  units.push(unit);
  return { unit, start, id };
}

describe("integrated unit: wake on demand", () => {
  it("answers a cold call by starting the unit first", async () => {
    const { unit, start, id } = echoUnit();
    expect(unit.state).toBe("stopped");
    expect(unit.pid).toBeUndefined();
    expect(pidsOfUnit(id)).toEqual([]);
    const echo = unit.client(EchoService);
    expect(await echo.echo({ message: "cold" })).toMatchObject({ message: "cold", unitId: id });
    await whenReady(unit);
    expect(unit.state).toBe("running");
    expect(start.calls).toBe(1);
    expect(pidsOfUnit(id)).toEqual([unit.pid]);
    expect(unit.info?.services).toContain("hsu.examples.echo.v1.EchoService");
    expect(unit.inFlight).toBe(0);
  });

  it("starts exactly one process for 50 concurrent cold calls", async () => {
    const { unit, start, id } = echoUnit();
    const events = recordEvents(unit);
    const echo = unit.client(EchoService);
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => echo.echo({ message: `m${i}` })));
    expect(replies.map((r) => r.message)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    expect(start.calls).toBe(1);
    // A call waits in the passed socket's backlog, so replies may come before the master has seen the handshake.
    await whenReady(unit);
    expect(start.pids).toEqual([unit.pid]);
    expect(pidsOfUnit(id)).toEqual([unit.pid]);
    expect(events.filter((e) => e.type === "starting")).toHaveLength(1);
    expect(events.map((e) => e.type)).toEqual(["starting", "ready"]);
  });

  it("wakes the unit again after it exits on its own", async () => {
    const { unit, start } = echoUnit();
    const echo = unit.client(EchoService);
    await echo.echo({ message: "one" });
    await whenReady(unit);
    const first = unit.pid!;
    const exited = nextEvent(unit, "exited");
    process.kill(-first, "SIGKILL");
    expect((await exited).exit).toEqual({ code: null, signal: "SIGKILL" });
    expect(unit.state).toBe("stopped");
    expect((await echo.echo({ message: "two" })).message).toBe("two");
    expect(unit.pid).not.toBe(first);
    expect(start.calls).toBe(2);
  });
});

describe("integrated unit: idle shutdown (real timers)", () => {
  it("stops the unit after the idle timeout; the next call wakes a new process", async () => {
    const { unit, start, id } = echoUnit({ idleTimeoutMs: 300 });
    const echo = unit.client(EchoService);
    await echo.echo({ message: "first" });
    await whenReady(unit);
    const first = unit.pid!;
    const stopped = await nextEvent(unit, "stopped");
    expect(stopped.pid).toBe(first);
    // Core Shutdown, not a signal: the unit drained and exited 0.
    expect(stopped.exit).toEqual({ code: 0, signal: null });
    expect(stopped.error).toBeUndefined();
    expect(alive(first)).toBe(false);
    expect(pidsOfUnit(id)).toEqual([]);
    expect(unit.state).toBe("stopped");
    expect((await echo.echo({ message: "again" })).message).toBe("again");
    expect(unit.pid).not.toBe(first);
    expect(start.calls).toBe(2);
  });

  it("lets a call that arrives during the shutdown wait, then wakes the unit for it", async () => {
    const { unit, start } = echoUnit({ idleTimeoutMs: 200 });
    const events = recordEvents(unit);
    const echo = unit.client(EchoService);
    await echo.echo({ message: "before" });
    await whenReady(unit);
    const first = unit.pid!;
    const late = new Promise<{ reply: Promise<{ message: string }>; stateAtCall: string }>((resolve) => {
      const off = unit.on((e) => {
        if (e.type !== "idle_shutdown") return;
        off();
        // Issued from inside the event: the unit is already stopping.
        resolve({ stateAtCall: unit.state, reply: echo.echo({ message: "during shutdown" }) });
      });
    });
    const { reply, stateAtCall } = await late;
    expect(stateAtCall).toBe("stopping");
    expect((await reply).message).toBe("during shutdown");
    expect(unit.pid).not.toBe(first);
    expect(alive(first)).toBe(false);
    expect(start.calls).toBe(2);
    expect(events.map((e) => e.type)).toEqual(["starting", "ready", "idle_shutdown", "stopped", "starting", "ready"]);
  });
});

describe("integrated unit: callers that give up while the unit wakes", () => {
  it("fails a call whose deadline passes during the wake with DEADLINE_EXCEEDED; the start goes on", async () => {
    const { unit, start } = echoUnit();
    const ready = nextEvent(unit, "ready");
    const echo = unit.client(EchoService);
    await expect(echo.echo({ message: "hurry" }, { timeoutMs: 20 })).rejects.toMatchObject({ code: Code.DeadlineExceeded });
    expect(unit.inFlight).toBe(0);
    await ready;
    expect((await echo.echo({ message: "patient" })).message).toBe("patient");
    expect(start.calls).toBe(1);
  });

  it("fails an aborted call with CANCELED without stopping the wake for the others", async () => {
    const { unit, start } = echoUnit();
    const echo = unit.client(EchoService);
    const abort = new AbortController();
    const impatient = echo.echo({ message: "a" }, { signal: abort.signal });
    const patient = echo.echo({ message: "b" });
    abort.abort();
    await expect(impatient).rejects.toMatchObject({ code: Code.Canceled });
    expect((await patient).message).toBe("b");
    expect(start.calls).toBe(1);
    expect(unit.inFlight).toBe(0);
  });
});

describe("integrated unit: start failures", () => {
  it("fails every waiting call with UNAVAILABLE carrying the exit code and stderr", async () => {
    const { unit, start } = echoUnit({}, {
      command: process.execPath,
      args: ["-e", "console.error('cannot read /etc/nowhere.toml'); process.exit(1)"],
    });
    const failed = nextEvent(unit, "start_failed");
    const echo = unit.client(EchoService);
    const results = await Promise.allSettled([1, 2, 3].map((i) => echo.echo({ message: `x${i}` })));
    expect(start.calls).toBe(1);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      const err = ConnectError.from((r as PromiseRejectedResult).reason);
      expect(err.code).toBe(Code.Unavailable);
      expect(err.message).toContain("failed to start");
      expect(err.message).toContain("code 1");
      expect(err.message).toContain("cannot read /etc/nowhere.toml");
    }
    expect((await failed).error?.message).toContain("code 1");
    expect(unit.state).toBe("stopped");
  });

  it("fails with UNAVAILABLE naming the start timeout and leaves no process behind", async () => {
    const { unit, id } = echoUnit({ startTimeoutMs: 500 }, { command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"] });
    const err = await unit.client(EchoService).echo({ message: "never" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.message).toContain("did not complete the handshake within 500 ms");
    expect(pidsOfUnit(id)).toEqual([]);
    expect(unit.state).toBe("stopped");
  });

  it("start() rejects with an HsuError carrying the reason", async () => {
    const { unit } = echoUnit({}, { command: process.execPath, args: ["-e", "console.error('no license'); process.exit(7)"] });
    await expect(unit.start()).rejects.toMatchObject({ name: "HsuError", code: "unavailable", message: expect.stringContaining("code 7") });
  });

  it("is rejected at creation without a start function or a command, or with a bad timeout", () => {
    expect(() => createIntegratedUnit({ id: "nothing" })).toThrow(/give either `start` or `launch`/);
    expect(() => createIntegratedUnit({ id: "bad", launch: echoCommand, startTimeoutMs: 0 })).toThrow(
      'unit "bad": startTimeoutMs: 0 is not a positive number of milliseconds',
    );
    expect(() => createIntegratedUnit({ id: "bad", launch: echoCommand, idleTimeoutMs: -1 })).toThrow(/idleTimeoutMs: -1 is not a number of milliseconds >= 0/);
  });
});

describe("integrated unit: close", () => {
  it("stops the process and refuses later calls with UNAVAILABLE", async () => {
    const { unit, id } = echoUnit();
    const ended = (async () => {
      const types: string[] = [];
      for await (const e of unit.events()) types.push(e.type);
      return types;
    })();
    const echo = unit.client(EchoService);
    await echo.echo({ message: "hi" });
    await whenReady(unit);
    const pid = unit.pid!;
    await unit.close();
    expect(alive(pid)).toBe(false);
    expect(pidsOfUnit(id)).toEqual([]);
    expect(unit.state).toBe("closed");
    await expect(echo.echo({ message: "late" })).rejects.toMatchObject({ code: Code.Unavailable });
    expect(await ended).toEqual(["starting", "ready", "stopping", "stopped", "closed"]);
  });

  it("uses its own registrar when none is given, and closes it", async () => {
    const id = unitId();
    const unit = createIntegratedUnit({ id, launch: echoCommand, idleTimeoutMs: Infinity });
    units.push(unit);
    expect((await unit.core.ping({})).unitId).toBe(id);
    await whenReady(unit);
    started.push(unit.pid!);
    await unit.close();
    expect(pidsOfUnit(id)).toEqual([]);
  });
});

describe("integrated unit: reconfigure", () => {
  const reloadScript = fileURLToPath(new URL("../../../../examples/echo/src/test-fixtures/reload-unit.ts", import.meta.url));
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const reloadUnit = (env: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-iu-cfg-"));
    dirs.push(dir);
    writeFileSync(join(dir, "app.conf"), "v1\n");
    return { dir, ...echoUnit({}, { command: process.execPath, args: ["--conditions=@hsu/source", reloadScript], env: { HSU_CONFIG_DIR: dir, ...env } }) };
  };

  it("reloads the running process (same pid) and never wakes a unit at rest", async () => {
    const { unit, start, dir } = reloadUnit({ RELOAD: "1" });
    await expect(unit.reconfigure()).rejects.toMatchObject({ name: "HsuError", code: "unavailable" });
    expect(start.calls).toBe(0);
    await unit.start();
    const pid = unit.pid;
    writeFileSync(join(dir, "app.conf"), "v2\n");
    const res = await unit.reconfigure({ generation: 5n, changedFiles: ["app.conf"] });
    expect(res.generation).toBe(5n);
    expect(res.files.map((f) => f.name)).toEqual(["app.conf"]);
    expect((await unit.client(EchoService).echo({ message: "loaded" })).message).toBe("v2\n");
    expect(unit.pid).toBe(pid);
    expect(unit.inFlight).toBe(0);
  });

  it("answers unsupported for a unit with no reload hook and failed_precondition for one that refuses", async () => {
    const none = reloadUnit({});
    await none.unit.start();
    await expect(none.unit.reconfigure()).rejects.toMatchObject({ code: "unsupported" });
    const refusing = reloadUnit({ RELOAD: "refuse" });
    await refusing.unit.start();
    await expect(refusing.unit.reconfigure()).rejects.toMatchObject({ code: "failed_precondition", message: expect.stringContaining("refuses every new config") });
    expect(refusing.unit.state).toBe("running");
  });
});
