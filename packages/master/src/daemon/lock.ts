import { HsuError, isRunning, readStatSync } from "@hsu/client";
import { spawn } from "node:child_process";
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/** The lock file in a state dir: whoever holds its flock is that state dir's one master. */
export const LOCK_FILE = "master.lock";

/** The state dir's lock, held by this process until `release()` or its death. */
export interface StateLock {
  readonly path: string;
  /** Releases the lock (closing the file); the kernel does the same when the process dies. */
  release(): void;
}

/** Who holds a state dir's lock, as far as the lock file says. */
export interface LockHolder {
  /** The pid written by the holder; undefined while it has not written it yet. */
  readonly pid: number | undefined;
  /** True when that process is stopped (SIGSTOP, a debugger): state T or t in /proc/<pid>/stat. */
  readonly stopped: boolean;
}

// flock(1)'s exit code when the lock is taken (-E), told apart from its own failures.
const CONFLICT = 75;

/**
 * Runs `flock` on an open file descriptor of ours. A flock(2) lock belongs to
 * the open file description, which this process and the short-lived `flock`
 * child share: when the child exits the lock stays with us, and the kernel
 * drops it when our last descriptor closes - on release or on our death, kill
 * -9 included. libuv opens every file close-on-exec, so units never inherit it.
 */
function flockFd(fd: number, args: string[]): Promise<"locked" | "conflict"> {
  return new Promise((resolve, reject) => {
    const child = spawn("flock", ["--conflict-exit-code", String(CONFLICT), ...args, "3"], { stdio: ["ignore", "ignore", "pipe", fd] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    child.once("error", (e) =>
      reject(new HsuError("unsupported", `cannot run flock(1) to lock the state dir (${e.message}); install util-linux`, {}, { cause: e })),
    );
    child.once("exit", (code) => {
      if (code === 0) resolve("locked");
      else if (code === CONFLICT) resolve("conflict");
      else reject(new HsuError("internal", `flock(1) failed (exit ${code}): ${err.trim()}`));
    });
  });
}

const openLockFile = (path: string) => openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);

/** What the lock file says about its holder (read without locking). */
export function lockHolder(stateDir: string): LockHolder {
  let pid: number | undefined;
  try {
    const n = Number(readFileSync(join(stateDir, LOCK_FILE), "utf8").trim());
    if (Number.isInteger(n) && n > 0) pid = n;
  } catch {
    // No lock file or unreadable: the holder is unknown.
  }
  return { pid, stopped: pid !== undefined && isStopped(pid) };
}

function isStopped(pid: number): boolean {
  const state = readStatSync(pid)?.state;
  return state === "T" || state === "t";
}

/** The refusal to start a second master: who holds the state dir and what to do. */
export function describeHolder(stateDir: string, holder: LockHolder, settleMs = HOLDER_SETTLE_MS): string {
  const who = holder.pid !== undefined ? `pid ${holder.pid}` : `another process (it did not write its pid within ${settleMs / 1000}s)`;
  const base = `${who} holds the state dir ${stateDir} (lock ${join(stateDir, LOCK_FILE)})`;
  if (holder.stopped) return `${base}; that master is stopped (SIGSTOP or a debugger): \`kill -CONT ${holder.pid}\` resumes it, then \`hsu ps\` shows it and \`hsu down\` stops it`;
  return `${base}; \`hsu ps\` shows it, \`hsu apply\` changes it, \`hsu down\` stops it`;
}

/** How long a refused acquire waits for the holder to name itself (see `settleHolder`). */
export const HOLDER_SETTLE_MS = 3_000;

/** What `acquireStateLock` does once it holds the lock. */
export interface AcquireOptions {
  /**
   * A probe takes the lock only to learn that it is free, and lets go at once:
   * it leaves the lock file as it is, so a master racing with it never reads
   * the probe's short-lived pid as the holder.
   */
  readonly probe?: boolean;
  /** How long a refused acquire waits for the holder to name itself; `HOLDER_SETTLE_MS` unless set. */
  readonly settleMs?: number;
}

/**
 * Takes the exclusive lock of a state dir without waiting, and writes our pid
 * into the lock file so a refused second master can name us. Throws
 * `already_exists` naming the holder when another process has it.
 */
export async function acquireStateLock(stateDir: string, options: AcquireOptions = {}): Promise<StateLock> {
  const path = join(stateDir, LOCK_FILE);
  const fd = openLockFile(path);
  try {
    if ((await flockFd(fd, ["--exclusive", "--nonblock"])) === "conflict") await settleHolder(stateDir, fd, options.settleMs ?? HOLDER_SETTLE_MS);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  if (!options.probe) {
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  }
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}

/**
 * Another process holds the lock: find out who, or take the lock if it goes.
 * Right after a holder takes the lock its pid is not in the file yet (or the
 * file still names the master before it, now dead), and a probe holds the lock
 * for an instant without naming itself at all. So a refusal names only a live
 * pid from the file; until there is one, wait for the lock (the kernel wakes
 * us when it is dropped) in short steps, at most `HOLDER_SETTLE_MS`. Returns
 * holding the lock; throws `already_exists` naming the holder.
 */
async function settleHolder(stateDir: string, fd: number, settleMs: number): Promise<void> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const holder = lockHolder(stateDir);
    const named = holder.pid !== undefined && isRunning(readStatSync(holder.pid));
    if (named || Date.now() >= deadline) throw new HsuError("already_exists", describeHolder(stateDir, named ? holder : { pid: undefined, stopped: false }, settleMs));
    if ((await flockFd(fd, ["--exclusive", "--wait", "0.05"])) === "locked") return;
  }
}

/** True when some process holds the state dir's lock (a probe: it takes and drops it when free). */
export async function isStateLocked(stateDir: string): Promise<boolean> {
  return !(await waitStateUnlocked(stateDir, 0));
}

/**
 * Waits until no process holds the state dir's lock, at most `ms`: the kernel
 * wakes us when the holder releases it or dies. True when it is free (a free
 * lock is taken for an instant and dropped at once); false at the deadline.
 */
export async function waitStateUnlocked(stateDir: string, ms: number): Promise<boolean> {
  let fd: number;
  try {
    fd = openSync(join(stateDir, LOCK_FILE), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw e;
  }
  try {
    const how = ms <= 0 ? ["--nonblock"] : ["--wait", (ms / 1000).toFixed(3)];
    return (await flockFd(fd, ["--exclusive", ...how])) === "locked";
  } finally {
    closeSync(fd);
  }
}
