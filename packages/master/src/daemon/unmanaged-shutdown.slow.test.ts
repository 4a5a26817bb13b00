// What a master's shutdown (`hsu down`, Ctrl-C) does to processes it did not
// start: a unit with can_terminate: true goes down with the master, one
// without it is left running, and a pid file whose process is already gone
// does not hold the shutdown up.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseDeployment } from "../config/index.ts";
import { runMaster } from "./run.ts";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function outsider(dir: string, name: string): ChildProcess {
  const p = spawn("sleep", ["600"], { stdio: "ignore", detached: true });
  writeFileSync(join(dir, `${name}.pid`), `${p.pid}\n`);
  cleanups.push(() => {
    if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  });
  return p;
}

function exited(p: ChildProcess, ms: number): Promise<string> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(String(p.signalCode ?? p.exitCode));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${p.pid} still runs ${ms} ms after the master stopped`)), ms);
    p.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(String(signal ?? code));
    });
  });
}

describe("a master's shutdown and the processes it adopted", () => {
  it("stops the one with can_terminate: true, leaves the other running, and is not held up by a dead pid file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-unmanaged-down-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const allowed = outsider(dir, "allowed");
    const kept = outsider(dir, "kept");
    const gone = outsider(dir, "gone");
    const spec = `units:
  allowed:
    kind: unmanaged
    pid_file: allowed.pid
    can_terminate: true
    graceful_timeout: 5s
  kept:
    kind: unmanaged
    pid_file: kept.pid
  gone:
    kind: unmanaged
    pid_file: gone.pid
    can_terminate: true
`;
    const running = await runMaster(parseDeployment(spec, "hsu.yaml", dir), { handleSignals: false, log: () => {} });
    await running.master.up();
    expect(running.master.get("allowed")[0]).toMatchObject({ state: "attached", pid: allowed.pid });
    expect(running.master.get("kept")[0]).toMatchObject({ state: "attached", pid: kept.pid });
    gone.kill("SIGKILL");
    await exited(gone, 10_000);
    await running.stop();
    expect(await exited(allowed, 10_000)).toBe("SIGTERM");
    expect(kept.exitCode).toBeNull();
    expect(kept.signalCode).toBeNull();
    expect(() => process.kill(kept.pid!, 0)).not.toThrow();
  });
});
