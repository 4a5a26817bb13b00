import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { HsuError } from "../errors.ts";
import { isRunning, readStat } from "../resources/index.ts";
import { killAllTestChildren, spawnPython, spawnTestChild } from "../resources/test-support/children.ts";
import { attachUnmanaged, type UnmanagedEvents, type UnmanagedUnit, type UnmanagedUnitInput } from "./index.ts";

const dir = mkdtempSync(join(tmpdir(), "hsu-unmanaged-"));
const units: UnmanagedUnit[] = [];
let n = 0;

afterEach(async () => {
  for (const u of units.splice(0)) u.detach();
  await killAllTestChildren();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function attach(spec: Omit<UnmanagedUnitInput, "id"> & { id?: string }): Promise<UnmanagedUnit> {
  const unit = await attachUnmanaged({ id: `ext-${++n}`, pollIntervalMs: 20, ...spec });
  units.push(unit);
  return unit;
}

function next<K extends keyof UnmanagedEvents>(unit: UnmanagedUnit, type: K): Promise<UnmanagedEvents[K]> {
  return new Promise((resolve) => {
    const off = unit.on(type, (event) => {
      off();
      resolve(event);
    });
  });
}

function pidFile(pid: number): string {
  const path = join(dir, `svc-${++n}.pid`);
  writeFileSync(path, `${pid}\n`);
  return path;
}

async function rejection(promise: Promise<unknown>): Promise<HsuError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!HsuError.is(error)) throw new Error(`expected an HsuError, got ${String(error)}`);
  return error;
}

describe("attaching unmanaged processes", () => {
  it("attaches by pid file and reports the process gone when it is killed from outside", async () => {
    const t = spawnTestChild("sleep", ["300"]);
    const events: string[] = [];
    const unit = await attachUnmanaged({ id: "db", pidFile: pidFile(t.pid), pollIntervalMs: 20 }, { onEvent: (e) => events.push(`${e.type}:${e.pid}`) });
    units.push(unit);
    expect(events).toEqual([`attached:${t.pid}`]);
    expect(unit.process).toMatchObject({ pid: t.pid, name: "sleep", startTime: (await readStat(t.pid))!.startTime });
    const usage = await next(unit, "usage");
    expect(usage.usage.rssBytes).toBeGreaterThan(0);
    const gone = next(unit, "gone");
    process.kill(t.pid, "SIGKILL");
    expect(await gone).toEqual({ unit: "db", pid: t.pid, reason: "exited" });
    expect(unit.process).toBeUndefined();
  });

  it("attaches by listening TCP port", async () => {
    const server = "const s = require('net').createServer().listen(0, '127.0.0.1', () => console.log(s.address().port));";
    const t = spawnTestChild(process.execPath, ["-e", server]);
    const port = Number(await t.firstLine);
    const unit = await attach({ port });
    expect(unit.process?.pid).toBe(t.pid);
  });

  it("attaches by pid", async () => {
    const t = spawnTestChild("sleep", ["300"]);
    expect((await attach({ pid: t.pid })).process?.pid).toBe(t.pid);
  });

  it("attaches by command-line pattern", async () => {
    const marker = `hsu-marker-${process.pid}-${Date.now()}`;
    const t = spawnPython("import sys\nprint('ready')\nsys.stdin.read()", {});
    const other = spawnTestChild("python3", ["-c", "import sys; print('ready'); sys.stdin.read()", marker]);
    await Promise.all([t.firstLine, other.firstLine]);
    const unit = await attach({ commandLine: `python3 -c .* ${marker}$` });
    expect(unit.process?.pid).toBe(other.pid);
  });

  it("refuses an ambiguous process name unless told which to pick", async () => {
    const name = `hsuq${process.pid % 100000}x`;
    const exe = join(dir, name);
    symlinkSync("/bin/sleep", exe);
    const a = spawnTestChild(exe, ["300"]);
    const b = spawnTestChild(exe, ["301"]);
    // Wait until both have exec'd (their comm is the symlink's name).
    while ((await readStat(a.pid))?.comm !== name || (await readStat(b.pid))?.comm !== name) await new Promise((r) => setImmediate(r));
    const error = await rejection(attach({ id: "dup", processName: name }));
    expect(error.code).toBe("failed_precondition");
    expect(error.message).toContain(`${a.pid} (${name})`);
    expect(error.message).toContain(`${b.pid} (${name})`);
    expect(error.where).toEqual({ unit: "dup", field: "processName" });
    expect((await attach({ processName: name, pick: "oldest" })).process?.pid).toBe(a.pid);
    expect((await attach({ processName: name, pick: "newest" })).process?.pid).toBe(b.pid);
  });

  it("says clearly when nothing matches", async () => {
    const error = await rejection(attach({ id: "none", processName: "no-such-proc-x" }));
    expect(error).toMatchObject({ code: "not_found", where: { unit: "none", field: "processName" } });
    expect((await rejection(attach({ pidFile: join(dir, "missing.pid") }))).code).toBe("not_found");
  });
});

describe("pid reuse defence", () => {
  it("does not attach to a pid whose start time differs from the recorded one", async () => {
    const own = (await readStat(process.pid))!;
    const error = await rejection(attach({ id: "reused", pidFile: pidFile(process.pid), expectStartTime: own.startTime + 1 }));
    expect(error.code).toBe("failed_precondition");
    expect(error.message).toMatch(/another process that reused the pid/);
    expect(error.where.unit).toBe("reused");
  });

  it("refuses a pid file that is a FIFO or a device at once: never waits for a writer, never reads without end", async () => {
    const fifo = join(dir, "fifo.pid");
    execFileSync("mkfifo", [fifo]);
    const device = join(dir, "zero.pid");
    symlinkSync("/dev/zero", device);
    for (const path of [fifo, device]) {
      const error = await rejection(attach({ id: "odd", pidFile: path }));
      expect(error, path).toMatchObject({ code: "failed_precondition", where: { unit: "odd", field: "pidFile" } });
      expect(error.message).toContain("is not a regular file");
    }
  });

  it("does not attach through a pid file written before its process started", async () => {
    const t = spawnTestChild("sleep", ["300"]);
    const path = pidFile(t.pid);
    utimesSync(path, new Date("2001-01-01"), new Date("2001-01-01"));
    const error = await rejection(attach({ pidFile: path }));
    expect(error.message).toMatch(/stale/);
  });
});

describe("following restarts through the pid file", () => {
  it("re-attaches when the pid file names a new process, without restarting anything", async () => {
    const a = spawnTestChild("sleep", ["300"]);
    const path = pidFile(a.pid);
    const unit = await attach({ pidFile: path });
    const gone = next(unit, "gone");
    process.kill(a.pid, "SIGKILL");
    expect((await gone).reason).toBe("exited");

    const b = spawnTestChild("sleep", ["302"]);
    const again = next(unit, "attached");
    writeFileSync(path, `${b.pid}\n`);
    expect(await again).toMatchObject({ pid: b.pid, reason: "pid_file_changed" });

    // Restarted while the old one still runs: follows the file, leaves the old process alone.
    const c = spawnTestChild("sleep", ["303"]);
    const moved = next(unit, "attached");
    writeFileSync(path, `${c.pid}\n`);
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    expect(await moved).toMatchObject({ pid: c.pid, previousPid: b.pid, reason: "pid_file_changed" });
    expect(isRunning(await readStat(b.pid))).toBe(true);
  });
});

describe("stopping unmanaged processes", () => {
  it("refuses to stop without canTerminate", async () => {
    const t = spawnTestChild("sleep", ["300"]);
    const unit = await attach({ id: "guarded", pid: t.pid });
    const error = await rejection(unit.stop());
    expect(error).toMatchObject({ code: "permission_denied", where: { unit: "guarded", field: "canTerminate" } });
    expect(isRunning(await readStat(t.pid))).toBe(true);
  });

  it("stops with the stop signal when allowed", async () => {
    const t = spawnTestChild("sleep", ["300"]);
    const unit = await attach({ pid: t.pid, canTerminate: true, stopSignal: "SIGINT" });
    const gone = next(unit, "gone");
    await unit.stop();
    expect((await gone).reason).toBe("stopped");
    expect(await t.exited).toEqual({ code: null, signal: "SIGINT" });
  });

  it("kills a process that ignores the stop signal after gracefulTimeoutMs", async () => {
    const t = spawnPython("import signal, sys\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready')\nsys.stdin.read()");
    await t.firstLine;
    const unit = await attach({ pid: t.pid, canTerminate: true, gracefulTimeoutMs: 100 });
    await unit.stop();
    expect(await t.exited).toEqual({ code: null, signal: "SIGKILL" });
  });
});

describe("limits of unmanaged processes", () => {
  it("reports a memory violation but never acts on it", async () => {
    const t = spawnPython("import sys\nb = bytearray(b'x') * (80 * 1024 * 1024)\nprint('ready')\nsys.stdin.read()");
    await t.firstLine;
    const unit = await attach({ pid: t.pid, limits: { memoryBytes: 50 * 1024 * 1024, policy: "kill" } });
    const { violation } = await next(unit, "limit_violation");
    expect(violation).toMatchObject({ limit: "memoryBytes", policy: "kill" });
    expect(isRunning(await readStat(t.pid))).toBe(true);
  });
});

describe("unmanaged spec validation", () => {
  it.each([
    [{ id: "x" }, "unmanaged.pid", /exactly one of/],
    [{ id: "x", pid: 1, port: 80 }, "unmanaged.port", /got pid, port/],
    [{ id: "x", commandLine: "(" }, "unmanaged.commandLine", /regular expression/],
    [{ id: "x", pid: 1, stopSignal: "SIGNOPE" }, "unmanaged.stopSignal", /signal name/],
    [{ id: "x", port: 70000 }, "unmanaged.port", /between 1 and 65535/],
    [{ id: "x", pid: 1, limits: { memoryBytes: -1 } }, "unmanaged.limits.memoryBytes", /between/],
  ])("rejects %j", async (spec, field, message) => {
    const error = await rejection(attachUnmanaged(spec as UnmanagedUnitInput));
    expect(error).toMatchObject({ code: "invalid_config", where: { unit: "x", field } });
    expect(error.message).toMatch(message);
  });
});
