import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { acquireStateLock, isStateLocked, lockHolder, waitStateUnlocked } from "./lock.ts";

const lockModule = pathToFileURL(join(import.meta.dirname, "lock.ts")).href;
const dirs: string[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "hsu-lock-"));
  dirs.push(d);
  return d;
}

/** Another process that takes the lock and holds it; resolves once it has it. */
async function holder(dir: string): Promise<ChildProcess> {
  const script = `import { acquireStateLock } from ${JSON.stringify(lockModule)};
await acquireStateLock(${JSON.stringify(dir)});
process.stdout.write("locked\\n");
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["--conditions=@hsu/source", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("locked") && resolve());
    child.once("exit", (code) => reject(new Error(`the lock holder exited (code ${code}) before it had the lock`)));
  });
  return child;
}

const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", () => r())));

describe("state dir lock", () => {
  it("is exclusive: a second acquire is refused with the holder's pid, and succeeds once released", async () => {
    const dir = stateDir();
    const lock = await acquireStateLock(dir);
    expect(readFileSync(join(dir, "master.lock"), "utf8")).toBe(`${process.pid}\n`);
    await expect(acquireStateLock(dir)).rejects.toMatchObject({ name: "HsuError", code: "already_exists", message: expect.stringContaining(`pid ${process.pid} holds the state dir ${dir}`) });
    expect(await isStateLocked(dir)).toBe(true);
    lock.release();
    expect(await isStateLocked(dir)).toBe(false);
    (await acquireStateLock(dir)).release();
  });

  it("is held by another process until it is SIGKILLed, then free at once", async () => {
    const dir = stateDir();
    const child = await holder(dir);
    await expect(acquireStateLock(dir)).rejects.toThrow(`pid ${child.pid} holds the state dir`);
    child.kill("SIGKILL");
    await exited(child);
    const lock = await acquireStateLock(dir);
    expect(lockHolder(dir).pid).toBe(process.pid);
    lock.release();
  });

  it("stays held by a SIGSTOPped holder, and the refusal says how to resume it", async () => {
    const dir = stateDir();
    const child = await holder(dir);
    process.kill(child.pid!, "SIGSTOP");
    try {
      // The state changes to T when the signal is delivered; ask /proc, not a timer.
      for (let i = 0; i < 1000 && !lockHolder(dir).stopped; i++) await new Promise((r) => setImmediate(r));
      expect(lockHolder(dir)).toEqual({ pid: child.pid, stopped: true });
      const refusal = acquireStateLock(dir);
      await expect(refusal).rejects.toThrow(`kill -CONT ${child.pid}`);
      expect(await waitStateUnlocked(dir, 200)).toBe(false);
    } finally {
      process.kill(child.pid!, "SIGCONT");
    }
    expect(await isStateLocked(dir)).toBe(true);
  });

  it("wakes a waiter when the holder dies", async () => {
    const dir = stateDir();
    const child = await holder(dir);
    const waiting = waitStateUnlocked(dir, 60_000);
    child.kill("SIGKILL");
    expect(await waiting).toBe(true);
  });

  it("is not inherited by processes started while it is held", async () => {
    const dir = stateDir();
    const lock = await acquireStateLock(dir);
    const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
    children.push(sleeper);
    await new Promise((r) => sleeper.once("spawn", r));
    const fds = readdirSync(`/proc/${sleeper.pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${sleeper.pid}/fd/${fd}`);
      } catch {
        return "";
      }
    });
    expect(fds.filter((f) => f.endsWith("master.lock"))).toEqual([]);
    lock.release();
    expect(await isStateLocked(dir)).toBe(false);
  });

  it("treats a missing lock file as free", async () => {
    expect(await waitStateUnlocked(stateDir(), 0)).toBe(true);
  });
});
