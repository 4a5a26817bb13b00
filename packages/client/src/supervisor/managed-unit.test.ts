import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createManagedUnit, type ManagedUnit, type ManagedUnitDeps } from "./managed-unit.ts";
import { groupMembers } from "./os-process.ts";
import { validateManagedUnitSpec } from "./spec.ts";
import { createLineSink, fixture, recordEvents, type LineSink } from "./test-support/line-sink.ts";
import type { UnitEvent } from "./unit-events.ts";

const units: ManagedUnit[] = [];
afterEach(async () => {
  await Promise.all(units.splice(0).map((u) => u.dispose()));
});

function makeUnit(input: Record<string, unknown>, deps: ManagedUnitDeps = {}): { unit: ManagedUnit; sink: LineSink; events: UnitEvent[] } {
  const sink = createLineSink();
  const spec = validateManagedUnitSpec({ gracefulTimeoutMs: 300, ...input });
  const unit = createManagedUnit({ spec, logSink: sink, ...deps });
  units.push(unit);
  return { unit, sink, events: recordEvents(unit) };
}

const spawns = (events: UnitEvent[]): UnitEvent[] => events.filter((e) => e.type === "spawned");
const exits = (events: UnitEvent[]): UnitEvent[] => events.filter((e) => e.type === "exit");

describe("restart policies with real processes", () => {
  it("never: an exit 1 stays exited", async () => {
    const { unit, events } = makeUnit({ id: "never", executable: fixture("exit-with.sh"), args: ["1"], restart: { policy: "never" } });
    await unit.start();
    const s = await unit.waitFor((s) => s.state === "exited");
    expect(s.lastExit).toMatchObject({ code: 1, signal: null, kind: "failure" });
    expect(spawns(events)).toHaveLength(1);
    expect(events.some((e) => e.type === "schedule_restart")).toBe(false);
  });

  it("on-failure: exit 0 is not restarted", async () => {
    const { unit, events } = makeUnit({ id: "onf0", executable: fixture("exit-with.sh"), args: ["0"], restart: { policy: "on-failure", delayMs: 0 } });
    await unit.start();
    const s = await unit.waitFor((s) => s.state === "exited");
    expect(s.lastExit).toMatchObject({ code: 0, kind: "success" });
    expect(spawns(events)).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: "exit", from: "running", to: "exited", exitCode: 0, signal: null });
  });

  it("on-failure: a non-zero exit is restarted until retries run out", async () => {
    const { unit, events } = makeUnit({
      id: "onf1",
      executable: fixture("exit-with.sh"),
      args: ["4"],
      restart: { policy: "on-failure", delayMs: 10, maxRetries: 2 },
    });
    await unit.start();
    const s = await unit.waitFor((s) => s.state === "failed");
    expect(spawns(events)).toHaveLength(3);
    expect(exits(events).map((e) => e.exitCode)).toEqual([4, 4, 4]);
    expect(s.restarts).toBe(2);
    expect(events.at(-1)).toMatchObject({ type: "retries_exhausted", to: "failed" });
  });

  it("always: exit 0 is restarted", async () => {
    const { unit, events } = makeUnit({
      id: "always",
      executable: fixture("exit-with.sh"),
      args: ["0"],
      restart: { policy: "always", delayMs: 10, maxRetries: 2 },
    });
    await unit.start();
    await unit.waitFor((s) => s.state === "failed");
    expect(spawns(events)).toHaveLength(3);
    expect(exits(events).every((e) => e.exitCode === 0)).toBe(true);
  });

  it("unless-stopped: restarts after exit 0, stays down after an explicit stop", async () => {
    const { unit, sink, events } = makeUnit({
      id: "unless",
      executable: fixture("graceful.sh"),
      args: ["0"],
      restart: { policy: "unless-stopped", delayMs: 10 },
    });
    await unit.start();
    await sink.waitForLine("unless", (l) => l.startsWith("ready"));
    process.kill(unit.snapshot().pid!, "SIGTERM"); // exits 0 on its own, not asked by the supervisor
    await unit.waitFor((s, e) => e?.type === "spawned");
    expect(exits(events)[0]).toMatchObject({ exitCode: 0, to: "exited" });
    const stopped = await unit.stop();
    expect(stopped).toMatchObject({ state: "stopped", explicitlyStopped: true, lastExit: { kind: "stopped" } });
    expect(spawns(events)).toHaveLength(2);
  });

  it("breaker: opens after maxRestarts within the window and spawns no more", async () => {
    const { unit, events } = makeUnit({
      id: "breaker",
      executable: fixture("exit-with.sh"),
      args: ["1"],
      restart: { policy: "always", delayMs: 0, breaker: { windowMs: 60_000, maxRestarts: 2 } },
    });
    await unit.start();
    const s = await unit.waitFor((s) => s.state === "failed");
    expect(spawns(events)).toHaveLength(3);
    expect(events.at(-1)).toMatchObject({ type: "breaker_open", from: "exited", to: "failed" });
    expect(events.at(-1)?.reason).toMatch(/breaker open: 2 restarts within 60000 ms/);
    expect(s.pid).toBeUndefined();
    expect(unit.reset()).toMatchObject({ state: "stopped", restarts: 0 });
  });

  it("backoff: the second restart comes no earlier than the configured delay (real time)", async () => {
    const { unit, events } = makeUnit({
      id: "backoff",
      executable: fixture("exit-with.sh"),
      args: ["1"],
      restart: { policy: "on-failure", delayMs: 150, backoffMultiplier: 2, maxRetries: 2 },
    });
    await unit.start();
    await unit.waitFor((s) => s.state === "failed");
    const ex = exits(events);
    const sp = spawns(events);
    expect(sp).toHaveLength(3);
    expect(sp[1]!.time - ex[0]!.time).toBeGreaterThanOrEqual(150);
    expect(sp[2]!.time - ex[1]!.time).toBeGreaterThanOrEqual(300);
  });
});

describe("stopping and exits", () => {
  it("graceful stop: SIGTERM handled, exit code reported, output delivered before the exit event", async () => {
    const { unit, sink, events } = makeUnit({ id: "graceful", executable: fixture("graceful.sh"), args: ["7"] });
    await unit.start();
    await sink.waitForLine("graceful", (l) => l.startsWith("ready"));
    let linesAtExit: string[] = [];
    unit.onEvent((e) => e.type === "exit" && (linesAtExit = sink.textOf("graceful")));
    const s = await unit.stop();
    expect(s).toMatchObject({ state: "stopped", lastExit: { code: 7, signal: null, kind: "stopped" } });
    expect(exits(events)[0]).toMatchObject({ from: "stopping", to: "stopped", exitCode: 7, signal: null });
    expect(linesAtExit).toContain("got SIGTERM");
  });

  it("a tree ignoring SIGTERM is SIGKILLed after the graceful timeout, leaving no live group member", async () => {
    const { unit, sink } = makeUnit({ id: "stubborn", executable: fixture("stubborn-tree.sh") });
    await unit.start();
    const ready = await sink.waitForLine("stubborn", (l) => l.startsWith("ready"));
    const pgid = unit.snapshot().pid!;
    expect(groupMembers(pgid).length).toBeGreaterThanOrEqual(3);
    expect(ready).toContain(`leader=${pgid}`);
    const s = await unit.stop();
    expect(s.lastExit).toMatchObject({ code: null, signal: "SIGKILL", kind: "stopped" });
    expect(groupMembers(pgid)).toEqual([]);
  });

  it("an exit by signal from outside is reported as the signal and restarted per policy", async () => {
    const { unit, sink, events } = makeUnit({ id: "sig", executable: fixture("sleeper.sh"), restart: { policy: "on-failure", delayMs: 10 } });
    await unit.start();
    await sink.waitForLine("sig", (l) => l.startsWith("ready"));
    const first = unit.snapshot().pid!;
    process.kill(first, "SIGKILL");
    const s = await unit.waitFor((s, e) => e?.type === "spawned");
    expect(exits(events)[0]).toMatchObject({ exitCode: null, signal: "SIGKILL", to: "exited", pid: first });
    expect(events.find((e) => e.type === "schedule_restart")?.reason).toContain("after signal");
    expect(s.pid).not.toBe(first);
    expect(s.restarts).toBe(1);
  });

  it("restart() replaces the process regardless of the policy", async () => {
    const { unit, sink } = makeUnit({ id: "rs", executable: fixture("graceful.sh"), restart: { policy: "never" } });
    await unit.start();
    await sink.waitForLine("rs", (l) => l.startsWith("ready"));
    const before = unit.snapshot().pid;
    const s = await unit.restart();
    expect(s.state).toBe("running");
    expect(s.pid).not.toBe(before);
    expect(s.restarts).toBe(1);
  });

  it("a failed spawn fails the unit at once, with the reason", async () => {
    // The program exists when the spec is validated and is gone by the time it is spawned.
    const dir = mkdtempSync(join(tmpdir(), "hsu-gone-"));
    const program = join(dir, "vanishing.sh");
    writeFileSync(program, "#!/bin/sh\n", { mode: 0o755 });
    const { unit, events } = makeUnit({ id: "gone", executable: program, restart: { policy: "never" } });
    rmSync(dir, { recursive: true });
    const s = await unit.start();
    expect(s.state).toBe("failed");
    expect(events.at(-2)).toMatchObject({ type: "spawn_failed", from: "starting", to: "exited" });
    expect(events.at(-1)).toMatchObject({ type: "retries_exhausted", from: "exited", to: "failed" });
    expect(events.at(-1)?.reason).toContain(`cannot start: executable "${program}" does not exist`);
  });
});

describe("output held open by an escaped process", () => {
  it("does not hold up the exit forever: the pipes are closed after outputDrainTimeoutMs", async () => {
    const { unit, sink, events } = makeUnit(
      { id: "escape", executable: fixture("escaping-child.sh"), restart: { policy: "never" } },
      { outputDrainTimeoutMs: 200 },
    );
    await unit.start();
    const line = await sink.waitForLine("escape", (l) => l.startsWith("escaped="));
    const escaped = Number(line.split("=")[1]);
    try {
      const s = await unit.waitFor((s) => s.state === "exited");
      expect(s.lastExit).toMatchObject({ code: 0, kind: "success" });
      expect(events.find((e) => e.type === "warning")?.reason).toMatch(/still open after its process group ended/);
    } finally {
      process.kill(escaped, "SIGKILL");
    }
  });
});

describe("what reaches the child", () => {
  it("args, cwd and merged env", async () => {
    process.env.MASTER_ONLY = "from-master";
    try {
      const { unit, sink } = makeUnit({
        id: "ctx",
        executable: fixture("print-context.sh"),
        args: ["one", "two words"],
        cwd: "/tmp",
        env: { HSU_TEST_VALUE: "v1" },
        restart: { policy: "never" },
      });
      await unit.start();
      await unit.waitFor((s) => s.state === "exited");
      expect(sink.textOf("ctx")).toEqual(["arg=one", "arg=two words", "cwd=/tmp", "HSU_TEST_VALUE=v1", `HOME=${process.env.HOME ?? "<unset>"}`, "MASTER_ONLY=from-master", "done"]);
    } finally {
      delete process.env.MASTER_ONLY;
    }
  });

  it("replaced env carries only what the spec gives", async () => {
    process.env.MASTER_ONLY = "from-master";
    try {
      const { unit, sink } = makeUnit({
        id: "ctx2",
        executable: fixture("print-context.sh"),
        env: { HSU_TEST_VALUE: "v2" },
        envMode: "replace",
        restart: { policy: "never" },
      });
      await unit.start();
      await unit.waitFor((s) => s.state === "exited");
      expect(sink.textOf("ctx2")).toEqual([`cwd=${process.cwd()}`, "HSU_TEST_VALUE=v2", "HOME=<unset>", "MASTER_ONLY=<unset>", "done"]);
    } finally {
      delete process.env.MASTER_ONLY;
    }
  });

  it("shell mode runs a command line with args as positional parameters", async () => {
    const { unit, sink } = makeUnit({ id: "shell", executable: 'echo "$0:$1" | tr a-z A-Z', args: ["hello"], shell: true, restart: { policy: "never" } });
    await unit.start();
    await unit.waitFor((s) => s.state === "exited");
    expect(sink.textOf("shell")).toEqual(["SHELL:HELLO"]);
  });
});
