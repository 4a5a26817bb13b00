import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { UnitKind, UnitState, UnitStatusSchema } from "@hsu/proto";
import { describe, expect, it } from "vitest";
import { procStartTime, psTable, selectUnits, statusJson, summaryLine } from "./status.ts";

const now = Date.parse("2026-01-01T12:00:00Z");
const units = [
  create(UnitStatusSchema, { id: "api", kind: UnitKind.MANAGED, state: "running", pid: 4242, startedAt: timestampFromMs(now - 93_000), cpuPercent: 1.25, rssBytes: 3n * 1024n * 1024n, usageSampled: true, health: "healthy", description: "the public HTTP API of the shop" }),
  create(UnitStatusSchema, { id: "flaky", kind: UnitKind.MANAGED, state: "failed", restarts: 3, lastExit: "code 1" }),
  create(UnitStatusSchema, { id: "nightly", kind: UnitKind.SCHEDULED, state: "scheduled", nextRun: timestampFromMs(now + 4_000), lastExit: "code 0" }),
  create(UnitStatusSchema, { id: "echo", kind: UnitKind.INTEGRATED, state: "idle" }),
];

describe("hsu ps table", () => {
  it("shows uptime, a failed unit's last exit, when a cron job runs next, and on-demand units", () => {
    const lines = psTable(units, { color: false, now }).split("\n");
    expect(lines[0]).toMatch(/^UNIT\s+KIND\s+STATE\s+PID\s+UPTIME\s+RESTARTS\s+CPU\s+RSS\s+HEALTH$/);
    expect(lines[1]).toMatch(/^api\s+managed\s+running\s+4242\s+1m33s\s+0\s+1\.3%\s+3\.0MiB\s+healthy$/);
    expect(lines[2]).toMatch(/^flaky\s+managed\s+failed \(exit 1\)\s+-\s+-\s+3\s+-\s+-\s+-$/);
    expect(lines[3]).toMatch(/^nightly\s+scheduled\s+scheduled\s+-\s+next in 4s\s/);
    expect(lines[4]).toMatch(/^echo\s+integrated\s+idle\s+-\s+on demand\s/);
    // Every row's columns line up under the header.
    const at = lines[0]!.indexOf("KIND");
    expect(lines.slice(1).every((l) => l[at - 1] === " " && l[at] !== " ")).toBe(true);
  });
  it("paints states only when asked, and --wide adds address, last exit and description", () => {
    expect(psTable(units, { color: false, now })).not.toContain("\x1b[");
    const coloured = psTable(units, { color: true, now });
    expect(coloured).toContain("\x1b[31mfailed (exit 1)");
    expect(coloured).toContain("\x1b[32mrunning");
    const wide = psTable(units, { color: false, now, wide: true }).split("\n");
    expect(wide[0]).toMatch(/HEALTH\s+ADDRESS\s+LAST EXIT\s+DESCRIPTION$/);
    expect(wide[1]).toMatch(/the public HTTP API of the shop$/);
    expect(wide[2]).toMatch(/exit 1$/);
    const narrow = psTable(units, { color: false, now, wide: true, maxWidth: wide[1]!.length - 3 }).split("\n");
    expect(narrow[1]).toMatch(/ the public HTTP API of the…$/);
    expect(narrow[1]!.length).toBeLessThanOrEqual(wide[1]!.length - 3);
  });
  it("a unit whose process never started says so in its row, and why with --wide", () => {
    const gone = create(UnitStatusSchema, { id: "api", kind: UnitKind.MANAGED, state: "failed", restarts: 1, lastExit: 'not started: executable "/srv/api" does not exist' });
    expect(psTable([gone], { color: false, now }).split("\n")[1]).toMatch(/^api\s+managed\s+failed \(not started\)\s/);
    expect(psTable([gone], { color: false, now, wide: true }).split("\n")[1]).toMatch(/not started: executable "\/srv\/api" does not exist\s*$/);
  });
  it("summarises states in a fixed order, trouble last", () => {
    expect(summaryLine(units, false)).toBe("4 units: 1 running, 1 idle, 1 scheduled, 1 failed");
    expect(summaryLine([], false)).toBe("0 units");
  });
  it("keeps the --json shape, with uptime from an injected clock", () => {
    const j = statusJson(units[0]!, now);
    expect(j).toMatchObject({ id: "api", kind: "managed", state: "running", pid: 4242, uptimeMs: 93_000, restarts: 0, cpuPercent: 1.3, health: "healthy", description: "the public HTTP API of the shop", nextRun: null });
    expect(statusJson(units[2]!, now).nextRun).toBe("2026-01-01T12:00:04.000Z");
  });
  it("gives null CPU and RSS (and '-' in the table) until the process was sampled, never a made-up 0", () => {
    const fresh = create(UnitStatusSchema, { id: "fresh", kind: UnitKind.MANAGED, state: "running", pid: 4243 });
    expect(statusJson(fresh, now)).toMatchObject({ cpuPercent: null, rssBytes: null });
    expect(statusJson(units[1]!, now)).toMatchObject({ cpuPercent: null, rssBytes: null });
    expect(psTable([fresh], { color: false, now }).split("\n")[1]).toMatch(/^fresh\s+managed\s+running\s+4243\s+-\s+0\s+-\s+-\s+-$/);
    const idle = create(UnitStatusSchema, { id: "calm", kind: UnitKind.MANAGED, state: "running", pid: 4244, usageSampled: true });
    expect(statusJson(idle, now)).toMatchObject({ cpuPercent: 0, rssBytes: 0 });
  });
  it("asks /proc when the master does not know when an adopted process started", () => {
    const adopted = create(UnitStatusSchema, { id: "legacy", kind: UnitKind.UNMANAGED, state: "attached", pid: process.pid });
    const j = statusJson(adopted, now, () => now - 86_400_000);
    expect(j.uptimeMs).toBe(86_400_000);
    // Against the real /proc: this test process started before it ran this line, and not long before.
    const started = procStartTime(process.pid)!;
    expect(started).toBeLessThanOrEqual(Date.now());
    expect(Math.abs(started - (Date.now() - process.uptime() * 1000))).toBeLessThan(2_000);
    expect(procStartTime(2 ** 22 + 1)).toBeUndefined();
  });
});

describe("states on the wire", () => {
  it("shows the typed state, falls back to the text from an older master", () => {
    const typed = create(UnitStatusSchema, { id: "a", unitState: UnitState.BACKOFF, lastExit: "code 2" });
    expect(statusJson(typed, now).state).toBe("backoff");
    expect(psTable([typed], { color: false, now }).split("\n")[1]).toMatch(/^a\s+unknown\s+backoff \(exit 2\)/);
    expect(statusJson(create(UnitStatusSchema, { id: "b", state: "attached" }), now).state).toBe("attached");
    expect(summaryLine([{ state: "failed" }, { state: "from-the-future" }, { state: "running" }], false)).toBe("3 units: 1 running, 1 failed, 1 from-the-future");
  });
});

describe("hsu ps <name...>", () => {
  const pool = [
    create(UnitStatusSchema, { id: "web", state: "running" }),
    create(UnitStatusSchema, { id: "workers-0", state: "running", pool: "workers" }),
    create(UnitStatusSchema, { id: "workers-1", state: "running", pool: "workers" }),
  ];
  it("keeps only the named units; a pool name stands for its replicas", () => {
    expect(selectUnits(pool, []).map((u) => u.id)).toEqual(["web", "workers-0", "workers-1"]);
    expect(selectUnits(pool, ["workers-1"]).map((u) => u.id)).toEqual(["workers-1"]);
    expect(selectUnits(pool, ["workers", "web"]).map((u) => u.id)).toEqual(["web", "workers-0", "workers-1"]);
  });
  it("names every unknown name", () => {
    expect(() => selectUnits(pool, ["web", "ghost", "wrokers"])).toThrow('no unit "ghost", "wrokers"; `hsu ps` lists them');
  });
});
