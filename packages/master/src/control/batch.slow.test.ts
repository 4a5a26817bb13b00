// Start/Stop/RestartUnit with many units in one request (`ids`, `all`), on a real master over its
// control socket: what an unknown id, a duplicate, an empty request or a pool does; that a unit
// which ignores SIGTERM holds up only itself; and the same through `hsu stop a b` / `--all`.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseDeployment } from "../config/index.ts";
import type { MasterEvent } from "../daemon/slot.ts";
import { runMaster, type RunningMaster } from "../daemon/run.ts";
import { alive, hsuWith } from "../test-support/hsu-cli.ts";

let dir: string;
let running: RunningMaster;
let c: ReturnType<typeof createClient<typeof ControlService>>;
const events: MasterEvent[] = [];
const fast = ["f0", "f1", "f2", "f3"];
const hsu = (...args: string[]) => hsuWith({ timeoutMs: 60_000 }, ...args, "--socket", running.control.socketPath);
const pidOf = (id: string) => running.master.get(id)[0]!.pid;
const stateOf = (id: string) => running.master.get(id)[0]!.state;
const everyUnit = () => running.master.list().map((v) => v.id);
/** The index in `events` of the unit's first `to` event since `from`. */
const firstAt = (unit: string, to: string, from: number) => events.findIndex((e, i) => i >= from && e.unit === unit && e.to === to);
const refusal = async (work: Promise<unknown>) => {
  const e = await work.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, "the call was refused").toBeInstanceOf(ConnectError);
  return e as ConnectError;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hsu-batch-"));
  const sleeper = `    command: sh\n    args: ["-c", "exec sleep 600"]\n    auto_start: false\n`;
  const spec = `units:
${fast.map((id) => `  ${id}:\n${sleeper}`).join("")}  workers:
${sleeper}    replicas: 3
  base:
    command: sh
    args: ["-c", "exec sleep 600"]
  top:
    command: sh
    args: ["-c", "exec sleep 600"]
    depends_on: [base]
  stubborn:
    command: sh
    args: ["-c", "trap '' TERM; while true; do sleep 0.05; done"]
    auto_start: false
    graceful_timeout: 3s
`;
  running = await runMaster(parseDeployment(spec, "hsu.yaml", dir), { handleSignals: false, log: () => {} });
  running.master.onEvent((e) => events.push(e));
  await running.master.up();
  c = createClient(ControlService, createUnitTransport(`unix:${running.control.socketPath}`, { connectTimeoutMs: 5000 }));
});
afterAll(async () => {
  await running?.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  await c.startUnit({ all: true }, { timeoutMs: 30_000 });
  expect(everyUnit().filter((id) => stateOf(id) !== "running"), "units not running before the test").toEqual([]);
});

describe("a batch is checked whole before anything is done", () => {
  it("unknown ids among known ones: NOT_FOUND naming each unknown id, and no unit stopped", async () => {
    const before = everyUnit().map(pidOf);
    const e = await refusal(c.stopUnit({ ids: ["f0", "nope", "workers", "f1", "nope", "gone-2"] }));
    expect(e.code).toBe(Code.NotFound);
    expect(e.rawMessage).toContain('"nope"');
    expect(e.rawMessage).toContain('"gone-2"');
    expect(e.rawMessage).toContain("nothing was done");
    expect(e.rawMessage.match(/"nope"/g)).toHaveLength(1);
    expect(everyUnit().map(pidOf)).toEqual(before);
    expect(before.every((pid) => pid !== undefined && alive(pid))).toBe(true);
    // The same for start and restart: a restart that went through would change the pids.
    expect((await refusal(c.restartUnit({ id: "f0", ids: ["nope"] }))).code).toBe(Code.NotFound);
    expect(everyUnit().map(pidOf)).toEqual(before);
  });

  it("no unit named, or `all` with ids: INVALID_ARGUMENT, nothing done", async () => {
    const before = everyUnit().map(pidOf);
    expect((await refusal(c.stopUnit({}))).code).toBe(Code.InvalidArgument);
    expect((await refusal(c.stopUnit({ ids: [] }))).code).toBe(Code.InvalidArgument);
    const both = await refusal(c.stopUnit({ all: true, ids: ["f0"] }));
    expect(both.code).toBe(Code.InvalidArgument);
    expect(both.rawMessage).toContain('"f0"');
    expect(everyUnit().map(pidOf)).toEqual(before);
  });

  it("an id named twice, and a replica named with its pool, act once and answer once each, in the order named", async () => {
    const res = await c.stopUnit({ id: "f1", ids: ["workers-1", "f1", "workers", "f0", "workers-2"] }, { timeoutMs: 30_000 });
    expect(res.units.map((u) => u.id)).toEqual(["f1", "workers-1", "workers-0", "workers-2", "f0"]);
    expect(res.unit?.id).toBe("f1");
    expect(res.units.every((u) => u.state === "stopped")).toBe(true);
    for (const id of ["f1", "workers-1", "f0"]) expect(events.filter((e) => e.unit === id && e.to === "stopped").length).toBeGreaterThan(0);
    expect(stateOf("f2")).toBe("running");
  });
});

describe("a stop of many units", () => {
  it("a unit that ignores SIGTERM holds up only itself: the others stop first, the answer comes once all stopped", async () => {
    const from = events.length;
    const ids = ["stubborn", ...fast];
    const res = await c.stopUnit({ ids }, { timeoutMs: 30_000 });
    expect(res.units.map((u) => [u.id, u.state])).toEqual(ids.map((id) => [id, "stopped"]));
    const stubbornStopped = firstAt("stubborn", "stopped", from);
    expect(stubbornStopped, "stubborn stopped").toBeGreaterThan(-1);
    for (const id of fast) {
      const at = firstAt(id, "stopped", from);
      expect(at, `${id} stopped`).toBeGreaterThan(-1);
      expect(at, `${id} stopped before stubborn`).toBeLessThan(stubbornStopped);
    }
    // It was ended by the escalation after its graceful timeout, not by SIGTERM.
    expect(events[stubbornStopped]!.signal).toBe("SIGKILL");
    // Every stop signal went out before any unit of the batch had stopped.
    const stopping = ids.map((id) => firstAt(id, "stopping", from));
    expect(Math.max(...stopping)).toBeLessThan(Math.min(...fast.map((id) => firstAt(id, "stopped", from))));
  });

  it("a dependency stops after the units of the batch that depend on it", async () => {
    const from = events.length;
    await c.stopUnit({ ids: ["base", "top"] }, { timeoutMs: 30_000 });
    expect(firstAt("top", "stopped", from)).toBeGreaterThan(-1);
    expect(firstAt("top", "stopped", from)).toBeLessThan(firstAt("base", "stopping", from));
  });

  it("`all` stops every unit, each replica of each pool included", async () => {
    const res = await c.stopUnit({ all: true }, { timeoutMs: 30_000 });
    expect(res.units.map((u) => u.id).sort()).toEqual(everyUnit().sort());
    expect(everyUnit().filter((id) => stateOf(id) !== "stopped")).toEqual([]);
  });
});

describe("hsu start|stop|restart with many units, one call", () => {
  it("hsu stop f0 workers, then hsu restart --all", async () => {
    const r = await hsu("stop", "f0", "workers", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { id: string; state: string }[]).map((u) => [u.id, u.state])).toEqual([
      ["f0", "stopped"],
      ["workers-0", "stopped"],
      ["workers-1", "stopped"],
      ["workers-2", "stopped"],
    ]);
    expect(stateOf("f1")).toBe("running");
    const before = pidOf("f1");
    const all = await hsu("restart", "--all", "--json");
    expect(all.code, all.stderr).toBe(0);
    expect((JSON.parse(all.stdout) as unknown[]).length).toBe(everyUnit().length);
    expect(pidOf("f1")).not.toBe(before);
  });

  it("usage errors: no unit, --all with names, an unknown name among known ones (nothing stopped)", async () => {
    const none = await hsu("stop");
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("--all");
    const both = await hsu("stop", "--all", "f0");
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('"f0"');
    const unknown = await hsu("stop", "f0", "nope", "f1");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('"nope"');
    expect([stateOf("f0"), stateOf("f1")]).toEqual(["running", "running"]);
  });
});
