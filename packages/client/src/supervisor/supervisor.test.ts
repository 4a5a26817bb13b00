import { afterEach, describe, expect, it } from "vitest";
import { HsuError } from "../errors.ts";
import { groupMembers } from "./os-process.ts";
import { createPool } from "./pool.ts";
import { createSupervisor, type Supervisor } from "./supervisor.ts";
import { createLineSink, fixture } from "./test-support/line-sink.ts";
import type { UnitEvent } from "./unit-events.ts";

let supervisor: Supervisor | undefined;
afterEach(async () => {
  await supervisor?.shutdown();
  supervisor = undefined;
});

const worker = { executable: fixture("graceful.sh"), gracefulTimeoutMs: 300 };

describe("createSupervisor", () => {
  it("adds, starts, lists, snapshots and removes units", async () => {
    const sink = createLineSink();
    supervisor = createSupervisor({ logSink: sink });
    const a = await supervisor.add({ id: "a", ...worker });
    const b = await supervisor.add({ id: "b", ...worker, autoStart: false });
    expect(a).toMatchObject({ id: "a", state: "running", restarts: 0, explicitlyStopped: false });
    expect(a.pid).toBeGreaterThan(0);
    expect(a.startedAt).toBeGreaterThan(0);
    expect(b).toMatchObject({ id: "b", state: "stopped" });
    expect(supervisor.list().map((s) => [s.id, s.state])).toEqual([["a", "running"], ["b", "stopped"]]);
    await supervisor.start("b");
    await sink.waitForLine("b", (l) => l.startsWith("ready"));
    const stopped = await supervisor.stop("b");
    expect(stopped.lastExit).toMatchObject({ code: 0, kind: "stopped" });
    await supervisor.remove("a");
    expect(supervisor.list().map((s) => s.id)).toEqual(["b"]);
    expect(() => supervisor!.get("a")).toThrow(/unit "a": no such unit/);
  });

  it("rejects duplicates and unknown ids with HsuErrors", async () => {
    supervisor = createSupervisor();
    await supervisor.add({ id: "a", ...worker, autoStart: false });
    await expect(supervisor.add({ id: "a", ...worker })).rejects.toMatchObject({ code: "already_exists" });
    await expect(supervisor.start("zz")).rejects.toSatisfy((e) => HsuError.is(e, "not_found"));
    await expect(supervisor.add({ id: "bad", executable: "/nope/x" })).rejects.toSatisfy((e) => HsuError.is(e, "invalid_config"));
  });

  it("streams events across units to several subscribers; a subscriber that stops does not leak", async () => {
    supervisor = createSupervisor();
    const all: UnitEvent[] = [];
    supervisor.onEvent((e) => all.push(e));
    const firstTwoSpawns = (async () => {
      const seen: string[] = [];
      for await (const e of supervisor!.events()) {
        if (e.type === "spawned") seen.push(e.unit);
        if (seen.length === 2) break;
      }
      return seen.sort();
    })();
    await supervisor.add({ id: "x", ...worker });
    await supervisor.add({ id: "y", ...worker });
    expect(await firstTwoSpawns).toEqual(["x", "y"]);
    await supervisor.restart("x");
    const xs = all.filter((e) => e.unit === "x").map((e) => `${e.type}:${e.from}->${e.to}`);
    expect(xs).toEqual([
      "start:stopped->starting",
      "spawned:starting->running",
      "restart:running->restarting",
      "exit:restarting->starting",
      "spawned:starting->running",
    ]);
    expect(all.every((e) => typeof e.time === "number" && typeof e.restartCount === "number")).toBe(true);
  });

  it("per-unit overrides take precedence; a health check without a monitor is reported", async () => {
    supervisor = createSupervisor();
    const events: UnitEvent[] = [];
    supervisor.onEvent((e) => events.push(e));
    const checked: string[] = [];
    await supervisor.add(
      { id: "h1", ...worker, healthCheck: { grpc: true } },
      {
        healthMonitorFactory: (unit, target) => {
          checked.push(`${unit}:${target.pid}`);
          return { status: "unknown", start() {}, stop() {}, onChange: () => () => {} };
        },
      },
    );
    await supervisor.add({ id: "h2", ...worker, healthCheck: { grpc: true } });
    expect(checked).toEqual([`h1:${supervisor.get("h1").pid}`]);
    expect(events.filter((e) => e.type === "warning").map((e) => `${e.unit}: ${e.reason}`)).toEqual([
      "h2: healthCheck is configured but the supervisor has no health monitor factory: health is not checked",
    ]);
  });

  it("shutdown stops every unit in parallel and waits", async () => {
    supervisor = createSupervisor();
    const ids = ["s1", "s2", "s3"];
    for (const id of ids) await supervisor.add({ id, executable: fixture("stubborn-tree.sh"), gracefulTimeoutMs: 300 });
    const pids = supervisor.list().map((s) => s.pid!);
    const order: string[] = [];
    supervisor.onEvent((e) => (e.type === "stop" || e.type === "exit") && order.push(`${e.type}:${e.unit}`));
    await supervisor.shutdown();
    // Every stop was issued before the first unit finished: they ran side by side.
    expect(order.slice(0, 3).sort()).toEqual(["stop:s1", "stop:s2", "stop:s3"]);
    expect(order.slice(3).sort()).toEqual(["exit:s1", "exit:s2", "exit:s3"]);
    for (const pid of pids) expect(groupMembers(pid)).toEqual([]);
    await expect(supervisor.add({ id: "late", ...worker })).rejects.toMatchObject({ code: "failed_precondition" });
    supervisor = undefined;
  });
});

describe("createPool", () => {
  it("scales 3 -> 5 -> 1 with real processes; each replica sees its HSU_INDEX and HSU_POOL", async () => {
    const sink = createLineSink();
    supervisor = createSupervisor({ logSink: sink });
    const pool = await createPool({ supervisor, name: "w", template: { ...worker, executable: fixture("pool-worker.sh") }, replicas: 3 });
    const indexLine = (i: number) => sink.waitForLine(`w-${i}`, (l) => l.startsWith("index="));
    expect(await Promise.all([0, 1, 2].map(indexLine))).toEqual(["index=0 pool=w", "index=1 pool=w", "index=2 pool=w"]);

    const up = await pool.scale(5);
    expect(up.map((s) => [s.id, s.state])).toEqual([0, 1, 2, 3, 4].map((i) => [`w-${i}`, "running"]));
    expect(await Promise.all([3, 4].map(indexLine))).toEqual(["index=3 pool=w", "index=4 pool=w"]);

    const stopOrder: string[] = [];
    supervisor.onEvent((e) => e.type === "exit" && e.to === "stopped" && stopOrder.push(`${e.unit}:${e.exitCode}`));
    const down = await pool.scale(1);
    expect(down.map((s) => s.id)).toEqual(["w-0"]);
    expect(stopOrder).toEqual(["w-4:0", "w-3:0", "w-2:0", "w-1:0"]);
    expect(supervisor.list().map((s) => s.id)).toEqual(["w-0"]);
    expect(pool.size).toBe(1);
    await pool.close();
    expect(supervisor.list()).toEqual([]);
  });

  it("rejects a bad pool name, a template with an id and a bad replica count", async () => {
    supervisor = createSupervisor();
    await expect(createPool({ supervisor, name: "Bad", template: worker })).rejects.toMatchObject({ code: "invalid_config" });
    await expect(createPool({ supervisor, name: "p", template: { ...worker, id: "x" } })).rejects.toMatchObject({ code: "invalid_config" });
    const pool = await createPool({ supervisor, name: "p", template: worker });
    await expect(pool.scale(-1)).rejects.toMatchObject({ code: "invalid_argument" });
  });
});
