import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { acquireStateLock, HOLDER_SETTLE_MS, isStateLocked, lockHolder, waitStateUnlocked } from "./lock.ts";

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

/**
 * A holder that takes the lock without naming itself, as a master does for an
 * instant after flock and a probe does all along: a shell holding fd 3 on the
 * lock file. It writes its pid when told "pid" on stdin and exits on "exit".
 */
async function silentHolder(dir: string): Promise<{ child: ChildProcess; tell: (what: "pid" | "exit") => void }> {
  const lock = join(dir, "master.lock");
  const script = `exec 3<>"$1"; flock 3; echo locked; while read cmd; do [ "$cmd" = exit ] && exit 0; [ "$cmd" = pid ] && printf '%s\\n' $$ > "$1"; done`;
  const child = spawn("sh", ["-c", script, "sh", lock], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("locked") && resolve());
    child.once("exit", (code) => reject(new Error(`the silent holder exited (code ${code}) before it had the lock`)));
  });
  return { child, tell: (what) => child.stdin!.write(`${what}\n`) };
}

/** Resolves once this process is waiting for the lock (a `flock --wait` child of ours exists): the refusal has not been decided yet. */
async function waitingForLock(): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        if (ppid === process.pid && readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").includes("--wait")) return;
      } catch {
        // Gone while we looked.
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  throw new Error("this process never waited for the lock");
}

/** The pid of a process that has exited: what a lock file holds after its master died. */
async function deadPid(): Promise<number> {
  const c = spawn("true");
  await new Promise((r) => c.once("exit", r));
  return c.pid!;
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

  it("names the holder that writes its pid after the refused master looked, never the dead master before it", async () => {
    const dir = stateDir();
    const dead = await deadPid();
    writeFileSync(join(dir, "master.lock"), `${dead}\n`);
    const h = await silentHolder(dir);
    const refusal = acquireStateLock(dir).then(() => "acquired", (e: Error) => e.message);
    await waitingForLock();
    h.tell("pid");
    const message = await refusal;
    expect(message).toContain(`pid ${h.child.pid} holds the state dir ${dir}`);
    expect(message).not.toContain(`pid ${dead}`);
  });

  it("takes the lock when a probe that held it lets go, and leaves the file alone when it is the probe", async () => {
    const dir = stateDir();
    const dead = await deadPid();
    writeFileSync(join(dir, "master.lock"), `${dead}\n`);
    const probe = await acquireStateLock(dir, { probe: true });
    expect(readFileSync(join(dir, "master.lock"), "utf8")).toBe(`${dead}\n`);
    await expect(acquireStateLock(dir, { probe: true, settleMs: 300 })).rejects.toThrow("did not write its pid within 0.3s");
    probe.release();
    const h = await silentHolder(dir);
    const next = acquireStateLock(dir);
    await waitingForLock();
    h.tell("exit");
    const lock = await next;
    expect(lockHolder(dir).pid).toBe(process.pid);
    lock.release();
  });

  it("refuses a holder that never names itself once the wait is over, and says so", async () => {
    const dir = stateDir();
    await silentHolder(dir);
    expect(HOLDER_SETTLE_MS).toBe(3_000);
    await expect(acquireStateLock(dir, { settleMs: 300 })).rejects.toMatchObject({ code: "already_exists", message: expect.stringContaining(`another process (it did not write its pid within 0.3s) holds the state dir ${dir}`) });
  });

  it("treats a missing lock file as free", async () => {
    expect(await waitStateUnlocked(stateDir(), 0)).toBe(true);
  });
});
