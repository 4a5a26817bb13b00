import { readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../clock.ts";
import type { ContainmentSupport } from "./host.ts";

/** How a cgroup is emptied (see ContainmentSupport.kill). */
export type KillMode = NonNullable<ContainmentSupport["kill"]>;

// A unit may nest cgroups of its own (as root, or in a delegated v2 subtree); they are emptied and removed too.
const MAX_DEPTH = 8;

/** Pids in a cgroup and every cgroup below it (empty if it is gone). */
export async function cgroupTreePids(dir: string, depth = 0): Promise<number[]> {
  const own = await cgroupPids(dir);
  if (depth >= MAX_DEPTH) return own;
  const below = await Promise.all((await childDirs(dir)).map((d) => cgroupTreePids(d, depth + 1)));
  return [...own, ...below.flat()];
}

/** Pids currently in one cgroup (empty if it is gone). */
export async function cgroupPids(dir: string): Promise<number[]> {
  try {
    return (await readFile(join(dir, "cgroup.procs"), "utf8")).split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The child cgroups of `dir` (cgroup directories hold only files and child cgroups). */
export async function childDirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch {
    return [];
  }
}

/**
 * SIGKILLs everything in cgroup `dir` (and below) until it is empty or
 * `deadline` (clock time) passed; returns the pids still in it then. With
 * "cgroup.kill" one write kills all; with "freeze" the cgroup is frozen while
 * every pid is killed and thawed after, so nothing forks in between; with
 * "signal" pids are killed one by one, again while any are left.
 */
export async function emptyCgroup(dir: string, mode: KillMode, deadline: number, clock: Clock): Promise<number[]> {
  for (;;) {
    const pids = await cgroupTreePids(dir);
    if (pids.length === 0 || clock.now() >= deadline) return pids;
    if (mode === "cgroup.kill") {
      const written = await writeFile(join(dir, "cgroup.kill"), "1").then(() => true, () => false);
      if (!written) killEach(pids);
    } else if (mode === "freeze") {
      await frozen(dir, clock, async () => killEach(await cgroupTreePids(dir)));
    } else {
      killEach(pids);
    }
    // SIGKILL is asynchronous: the kernel takes the processes out once they are torn down.
    await clock.sleep(5);
  }
}

/**
 * Empties then removes cgroup `dir` with everything below it. Resolves with
 * the pids left when `deadline` passed (the cgroup then stays); ENOENT counts
 * as removed.
 */
export async function removeCgroupTree(dir: string, mode: KillMode, deadline: number, clock: Clock, depth = 0): Promise<number[]> {
  // The common case - no process and no child cgroup left, or no cgroup at all - is one rmdir; the kernel refuses it (EBUSY) otherwise.
  const gone = await rmdir(dir).then(
    () => true,
    (error: NodeJS.ErrnoException) => error.code === "ENOENT",
  );
  if (gone) return [];
  const survivors = await emptyCgroup(dir, mode, deadline, clock);
  if (survivors.length) return survivors;
  if (depth < MAX_DEPTH) {
    for (const child of await childDirs(dir)) {
      const left = await removeCgroupTree(child, mode, deadline, clock, depth + 1);
      if (left.length) return left;
    }
  }
  for (;;) {
    try {
      await rmdir(dir);
      return [];
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return [];
      // EBUSY right after the last process died: the kernel has not finished taking it out.
      if (code !== "EBUSY" || clock.now() >= deadline) throw error;
    }
    const left = await emptyCgroup(dir, mode, deadline, clock);
    if (left.length) return left;
    await clock.sleep(5);
  }
}

function killEach(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already exited between the read and the kill.
    }
  }
}

// Freezing waits this long at most for the kernel to report "frozen"; the pids are killed either way.
const FREEZE_WAIT_MS = 200;

async function frozen(dir: string, clock: Clock, work: () => Promise<void>): Promise<void> {
  const v2 = await readFile(join(dir, "cgroup.freeze"), "utf8").then(() => true, () => false);
  const [file, freeze, thaw] = v2 ? ["cgroup.freeze", "1", "0"] : ["freezer.state", "FROZEN", "THAWED"];
  const froze = await writeFile(join(dir, file), freeze).then(() => true, () => false);
  try {
    const until = clock.now() + FREEZE_WAIT_MS;
    while (froze && !(await isFrozen(dir, v2)) && clock.now() < until) await clock.sleep(2);
    await work();
  } finally {
    // Killed processes die once thawed; a cgroup left frozen would hold them forever.
    if (froze) await writeFile(join(dir, file), thaw).catch(() => undefined);
  }
}

async function isFrozen(dir: string, v2: boolean): Promise<boolean> {
  try {
    if (v2) return /^frozen 1$/m.test(await readFile(join(dir, "cgroup.events"), "utf8"));
    return (await readFile(join(dir, "freezer.state"), "utf8")).trim() === "FROZEN";
  } catch {
    return true; // gone: nothing left to freeze
  }
}
