import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createManagedUnit, type ManagedUnit } from "../supervisor/managed-unit.ts";
import { validateManagedUnitSpec } from "../supervisor/spec.ts";
import { createLineSink, recordEvents } from "../supervisor/test-support/line-sink.ts";
import type { UnitEvent } from "../supervisor/unit-events.ts";
import { cgroupTreePids } from "./cgroup-empty.ts";
import { createCgroupHome, type CgroupHome } from "./cgroup-home.ts";
import { describeHostCapabilities, detectHostCapabilities, type HostCapabilities } from "./host.ts";
import { createLimitPlanner } from "./planner.ts";
import { isRunning, readStatSync } from "./proc.ts";

const escapee = fileURLToPath(new URL("./test-support/setsid-escapee.sh", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "hsu-contain-"));
const host = await describeHostCapabilities();
const contained = host.containment.version !== undefined;

const units: ManagedUnit[] = [];
const homes: CgroupHome[] = [];
const strays: number[] = [];
afterEach(async () => {
  await Promise.all(units.splice(0).map((u) => u.dispose()));
  for (const pid of strays.splice(0)) alive(pid) && process.kill(pid, "SIGKILL");
  for (const home of homes.splice(0)) await home.close();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function alive(pid: number): boolean {
  return isRunning(readStatSync(pid));
}

/** The v1 hierarchy `name` as a containment, when this host has it writable (to run the v1 paths here too). */
function v1Containment(name: string, kill: "freeze" | "signal"): HostCapabilities | undefined {
  const line = readFileSync("/proc/self/cgroup", "utf8").split("\n").find((l) => l.split(":")[1]?.split(",").includes(name));
  const dir = line && join("/sys/fs/cgroup", name, line.split(":")[2]!);
  if (!dir || !existsSync(join(dir, "cgroup.procs"))) return undefined;
  return { ...host, containment: { version: "v1", parentDir: dir.replace(/\/$/, ""), kill, reason: `test: v1 ${name}` } };
}

let seq = 0;
function makeUnit(mode: "stay" | "exit", options: { home?: CgroupHome; fork?: boolean; drainMs?: number } = {}) {
  const home = options.home ?? createCgroupHome({ owner: `test-${process.pid}-${seq}` });
  if (!options.home) homes.push(home);
  const id = `esc${seq++}`;
  const pidFile = join(scratch, `${id}.pid`);
  const sink = createLineSink();
  const spec = validateManagedUnitSpec({
    id,
    executable: escapee,
    args: [pidFile, mode, options.fork ? "fork" : ""],
    gracefulTimeoutMs: 2000,
    restart: { policy: "never" },
  });
  const unit = createManagedUnit({ spec, logSink: sink, limitPlanner: createLimitPlanner({ cgroups: home }), outputDrainTimeoutMs: options.drainMs ?? 10_000 });
  units.push(unit);
  const events = recordEvents(unit);
  const escaped = async (): Promise<number> => {
    const pid = Number((await sink.waitForLine(id, (l) => l.startsWith("escaped="))).split("=")[1]);
    strays.push(pid);
    return pid;
  };
  return { id, unit, events, home, escaped };
}

async function unitDir(home: CgroupHome, id: string): Promise<string> {
  const h = await home.host();
  return join(h.containment.parentDir!, home.group, id);
}

const warnings = (events: UnitEvent[]) => events.filter((e) => e.type === "warning").map((e) => e.reason);

// Skipped, with the reason in its name, only where the host cannot create cgroups at all.
describe.skipIf(!contained)(`containment on this host (${host.containment.reason})`, () => {
  it("stop kills a setsid grandchild that ignores SIGTERM, before the stop is reported", async () => {
    const { id, unit, home, escaped, events } = makeUnit("stay");
    await unit.start();
    const pid = await escaped();
    const dir = await unitDir(home, id);
    // It left the unit's process group and session, but not its cgroup.
    const stat = readStatSync(pid)!;
    expect(stat.pgid).toBe(pid);
    expect(await cgroupTreePids(dir)).toContain(pid);
    const s = await unit.stop();
    expect(s.state).toBe("stopped");
    expect(alive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(warnings(events)).toEqual([]);
  });

  it("the unit's own exit empties its cgroup before the exit is reported", async () => {
    const { id, unit, home, escaped } = makeUnit("exit");
    await unit.start();
    const pid = await escaped();
    const dir = await unitDir(home, id);
    const s = await unit.waitFor((x) => x.state === "exited");
    expect(s.lastExit).toMatchObject({ code: 0, kind: "success" });
    expect(alive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    // Nothing of this owner stays in the hierarchy once its last unit is gone.
    expect(existsSync(join(dir, ".."))).toBe(false);
  });

  it("an escapee that keeps forking more escapees is emptied too", async () => {
    const { id, unit, home, escaped } = makeUnit("stay", { fork: true });
    await unit.start();
    const pid = await escaped();
    const dir = await unitDir(home, id);
    const end = Date.now() + 10_000;
    while ((await cgroupTreePids(dir)).length < 6 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const before = await cgroupTreePids(dir);
    expect(before.length).toBeGreaterThanOrEqual(6);
    await unit.stop();
    expect(before.filter(alive)).toEqual([]);
    expect(alive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  for (const [name, kill] of [["freezer", "freeze"], ["pids", "signal"]] as const) {
    const v1 = v1Containment(name, kill);
    it.skipIf(!v1)(`on cgroup v1 (${name}: ${kill}) stop kills the forking escapee as well`, async () => {
      const home = createCgroupHome({ owner: `test-${process.pid}-v1${name}`, host: v1! });
      homes.push(home);
      const { id, unit, escaped } = makeUnit("stay", { home, fork: true });
      await unit.start();
      const pid = await escaped();
      const dir = join(v1!.containment.parentDir!, home.group, id);
      expect(await cgroupTreePids(dir)).toContain(pid);
      await unit.stop();
      expect(alive(pid)).toBe(false);
      expect(existsSync(dir)).toBe(false);
    });
  }

  const freezer = host.containment.version === "v2" ? v1Containment("freezer", "freeze") : undefined;
  it.skipIf(!freezer)("names a process that cannot die by the deadline (frozen elsewhere) and still reports the stop", async () => {
    const home = createCgroupHome({ owner: `test-${process.pid}-frozen`, emptyTimeoutMs: 300 });
    homes.push(home);
    const { id, unit, escaped, events } = makeUnit("stay", { home, drainMs: 100 });
    await unit.start();
    const pid = await escaped();
    // A v1-frozen process takes its SIGKILL only once thawed.
    const ice = join(freezer!.containment.parentDir!, `hsu-test-${process.pid}-ice`);
    mkdirSync(ice);
    try {
      writeFileSync(join(ice, "cgroup.procs"), String(pid));
      writeFileSync(join(ice, "freezer.state"), "FROZEN");
      const end = Date.now() + 5000;
      while (readFileSync(join(ice, "freezer.state"), "utf8").trim() !== "FROZEN" && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      const s = await unit.stop();
      expect(s.state).toBe("stopped");
      const dir = await unitDir(home, id);
      // And, as it still holds the unit's output, the pipes are closed after the drain timeout.
      expect(warnings(events)).toEqual([
        `the unit's cgroup could not be emptied: unit "${id}": processes ${pid} survived SIGKILL in cgroup ${dir}`,
        expect.stringMatching(/^output of pid \d+ still open after its process group ended/),
      ]);
      expect(alive(pid)).toBe(true);
    } finally {
      writeFileSync(join(ice, "freezer.state"), "THAWED");
      const end = Date.now() + 5000;
      while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      rmdirSync(ice);
    }
    expect(alive(pid)).toBe(false);
    // The cgroup left behind goes with the next reap.
    expect((await home.reap()).removed).toEqual([id]);
  });

  it("a restarted owner reaps the cgroups of units it does not keep, and keeps the others", async () => {
    const owner = `test-${process.pid}-crash`;
    const first = createCgroupHome({ owner });
    // The "crashed" master: its units run, its plans are never released.
    const a = makeUnit("stay", { home: first });
    const b = makeUnit("stay", { home: first });
    await Promise.all([a.unit.start(), b.unit.start()]);
    const [pa, pb] = await Promise.all([a.escaped(), b.escaped()]);
    const next = createCgroupHome({ owner });
    homes.push(next);
    const report = await next.reap([b.id]);
    expect(report.removed).toEqual([a.id]);
    expect(report.killed).toContain(pa);
    expect(report.survivors).toEqual([]);
    expect(alive(pa)).toBe(false);
    expect(existsSync(await unitDir(next, a.id))).toBe(false);
    // The kept one is taken over by the next plan of that unit, and its stop still reaches the escapee.
    expect(alive(pb)).toBe(true);
    const plan = await createLimitPlanner({ cgroups: next })(b.id, undefined);
    expect(plan.escapeWarning).toBeUndefined();
    expect(await cgroupTreePids(await unitDir(next, b.id))).toContain(pb);
    await plan.release();
    expect(alive(pb)).toBe(false);
    await next.close();
    expect(existsSync(join(host.containment.parentDir!, next.group))).toBe(false);
  });
});

describe("a unit's release", () => {
  // It removes the unit's cgroups where they can be (made in this life, or kept by a reap), not one per hierarchy.
  it("removes a limit cgroup of an earlier life that a reap kept, though this life's plan has no limit", async () => {
    const pids = host.controllers.pids;
    // Needs a second hierarchy beside the containment one (cgroup v1 pids here); on a v2-only host both are one.
    if (!contained || !pids.parentDir || pids.parentDir === host.containment.parentDir) return;
    const owner = `test-${process.pid}-known`;
    const id = "kept-limit";
    const first = createCgroupHome({ owner });
    await first.create(id, [{ controller: "pids", file: "pids.max", value: "1000" }]);
    const limitDir = join(pids.parentDir, first.group, id);
    expect(existsSync(limitDir)).toBe(true);
    const next = createCgroupHome({ owner });
    homes.push(next);
    expect((await next.reap([id])).removed).toEqual([]);
    const cgroups = await next.create(id, []);
    expect(cgroups.dirs).not.toContain(limitDir);
    await cgroups.release();
    expect(existsSync(limitDir)).toBe(false);
    expect(existsSync(join(host.containment.parentDir!, next.group, id))).toBe(false);
  });
});

describe("a host without writable cgroups", () => {
  it("warns once per unit that escapes are possible, and the stop falls back to the process group", async () => {
    const emptyProc = join(scratch, "no-proc");
    mkdirSync(emptyProc);
    const bare = await detectHostCapabilities({ procRoot: emptyProc, searchPath: [] });
    expect(bare.containment.version).toBeUndefined();
    const home = createCgroupHome({ owner: `test-${process.pid}-bare`, host: bare });
    homes.push(home);
    const planner = createLimitPlanner({ cgroups: home });
    const make = (id: string) => {
      const spec = validateManagedUnitSpec({ id, executable: "sh", args: ["-c", "exec sleep 600"], gracefulTimeoutMs: 2000, restart: { policy: "never" } });
      const unit = createManagedUnit({ spec, limitPlanner: planner });
      units.push(unit);
      return { unit, events: recordEvents(unit) };
    };
    const one = make("bare1");
    const two = make("bare2");
    await one.unit.start();
    await one.unit.restart();
    await one.unit.stop();
    await two.unit.start();
    const said = /can outlive its stop: no cgroup contains them \(no cgroup hierarchy to create unit cgroups in/;
    expect(warnings(one.events).filter((w) => said.test(w))).toHaveLength(1);
    expect(warnings(two.events).filter((w) => said.test(w))).toHaveLength(1);
    expect(one.events.filter((e) => e.type === "spawned")).toHaveLength(2);
    // Which is true: the process-group sweep cannot reach a setsid grandchild.
    const esc = makeUnit("stay", { home, drainMs: 100 });
    await esc.unit.start();
    const pid = await esc.escaped();
    await esc.unit.stop();
    expect(alive(pid)).toBe(true);
  });
});

// No cgroup of this file's owners may be left behind.
afterAll(async () => {
  const parent = host.containment.parentDir;
  if (!parent) return;
  const ours = readdirSync(parent).filter((n) => n.startsWith(`hsu-test-${process.pid}-`));
  expect(ours).toEqual([]);
});
