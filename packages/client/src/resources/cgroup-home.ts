import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chown, mkdir, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createSystemClock, type Clock } from "../clock.ts";
import { HsuError } from "../errors.ts";
import type { CgroupSetting } from "./cgroup.ts";
import { cgroupTreePids, childDirs, emptyCgroup, removeCgroupTree, type KillMode } from "./cgroup-empty.ts";
import { describeHostCapabilities, type HostCapabilities } from "./host.ts";

/** Options of {@link createCgroupHome}. */
export interface CgroupHomeOptions {
  /**
   * Whose cgroups these are: each unit's live in `hsu-<owner>/<unit>` under
   * the master's own cgroup of every hierarchy used, so the next master with
   * the same owner finds them after a crash. Random by default (nobody else finds them).
   */
  owner?: string;
  /** Host capabilities; detected once per process by default. */
  host?: HostCapabilities;
  /** How long emptying a unit's cgroups may take before the survivors are reported (default 5000 ms). */
  emptyTimeoutMs?: number;
  /** Time source of that deadline and of the polling (the system clock by default). */
  clock?: Clock;
}

/** The cgroups of one unit. */
export interface UnitCgroups {
  /** Every cgroup of the unit (the containment cgroup first); the supervisor makes sure its process is in each after spawn. */
  readonly dirs: string[];
  /**
   * Those the unit's process joins itself before it execs (the join wrapper). All of them, except a
   * v2 containment cgroup of a unit running as another user: cgroup v2 lets only the master move a
   * process out of a cgroup it does not own, so that one is joined after spawn.
   */
  readonly joinDirs: string[];
  /** Set when the unit has no containment cgroup, i.e. its processes that leave its process group escape stop: why. */
  readonly uncontained?: string;
  /**
   * Kills every process left in the unit's cgroups (each one made for it in
   * this life, and each one of an earlier master life that a reap kept for
   * it) and removes them. Throws an HsuError naming the pids still alive at
   * the deadline.
   */
  release(): Promise<void>;
}

/** What a reap found. */
export interface CgroupReapReport {
  /** Unit cgroup names emptied and removed. */
  removed: string[];
  /** Processes SIGKILLed on the way (pids seen in removed cgroups). */
  killed: number[];
  /** Processes still alive at the deadline, with their cgroup. */
  survivors: Leftover[];
}

/** A unit cgroup that could not be removed: the pids alive in it at the deadline, or why else. */
export interface Leftover {
  dir: string;
  pids: number[];
  error?: string;
}

/** The unit cgroups of one owner (one master): created per unit, found again and cleaned after a crash. */
export interface CgroupHome {
  /** The `hsu-<owner>` directory name under each parent cgroup. */
  readonly group: string;
  host(): Promise<HostCapabilities>;
  /**
   * Creates the unit's cgroups: its containment cgroup (when the host has
   * one) and one per hierarchy that `settings` need, with the settings
   * written. A cgroup that exists already (left by an earlier life of this
   * master, with a re-adopted process in it) is taken over as it is. A
   * containment cgroup that cannot be created is reported in `uncontained`;
   * a limit cgroup that cannot be created is an error.
   */
  create(unit: string, settings: CgroupSetting[], user?: { uid: number; gid: number }): Promise<UnitCgroups>;
  /**
   * Empties and removes every unit cgroup of this owner except those in use
   * by this process and those of the units in `keep` (re-adopted by a
   * restarted master).
   */
  reap(keep?: Iterable<string>): Promise<CgroupReapReport>;
  /** reap() of everything not in use, then removes the `hsu-<owner>` directories themselves. */
  close(): Promise<CgroupReapReport>;
  /** The unit cgroup name of this owner that process `pid` is in (from /proc), if any. */
  unitOf(pid: number): string | undefined;
}

/** The directory name of a unit's cgroup: the id where it is a safe name, else a readable prefix plus a hash. */
export function unitCgroupName(unit: string): string {
  const safe = unit.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 64);
  if (safe === unit && unit !== "." && unit !== "..") return unit;
  return `${safe}-${createHash("sha256").update(unit).digest("hex").slice(0, 8)}`;
}

/** Creates the cgroup home of one owner; touches nothing until the first create/reap. */
export function createCgroupHome(options: CgroupHomeOptions = {}): CgroupHome {
  const owner = (options.owner ?? randomBytes(8).toString("hex")).replace(/[^A-Za-z0-9_.-]/g, "_");
  const group = `hsu-${owner}`;
  const clock = options.clock ?? createSystemClock();
  const emptyTimeoutMs = options.emptyTimeoutMs ?? 5000;
  const host = async () => options.host ?? (await describeHostCapabilities());
  // Unit cgroup names with a live plan in this process: reap leaves them alone.
  const inUse = new Map<string, number>();

  /** Every parent cgroup we may create unit cgroups under, with how a cgroup there is emptied. */
  const parents = async (): Promise<Map<string, KillMode>> => {
    const h = await host();
    const out = new Map<string, KillMode>();
    if (h.containment.parentDir && h.containment.kill) out.set(h.containment.parentDir, h.containment.kill);
    for (const c of Object.values(h.controllers)) {
      if (c.parentDir && !out.has(c.parentDir)) out.set(c.parentDir, c.files.includes("cgroup.kill") ? "cgroup.kill" : "signal");
    }
    return out;
  };

  // The parent cgroups under which a unit's cgroup may exist: where a create() of this life made it, or
  // where a reap kept it (a re-adopted unit's). A unit's release removes those, not one per hierarchy:
  // without limits that is its containment cgroup alone. It only grows (a few entries per unit).
  const known = new Map<string, Set<string>>();
  const know = (name: string, parent: string) => {
    const set = known.get(name) ?? new Set<string>();
    known.set(name, set.add(parent));
  };

  const removeUnit = async (name: string, only?: ReadonlySet<string>): Promise<Leftover[]> => {
    const deadline = clock.now() + emptyTimeoutMs;
    // Every hierarchy at once (this is on a unit's exit path, before its restart): each empties what is
    // left in its cgroup with SIGKILL, so the containment cgroup kills every process of the unit wherever
    // it is, and the others find nothing or the same processes.
    const left = await Promise.all(
      [...(await parents())].filter(([parent]) => !only || only.has(parent)).map(async ([parent, mode]): Promise<Leftover | undefined> => {
        const dir = join(parent, group, name);
        try {
          const pids = await removeCgroupTree(dir, mode, deadline, clock);
          return pids.length ? { dir, pids } : undefined;
        } catch (error) {
          return { dir, pids: await emptyCgroup(dir, mode, deadline, clock), error: (error as Error).message };
        }
      }),
    );
    return left.filter((l): l is Leftover => l !== undefined);
  };

  // A unit still in use (not stopped) or a survivor keeps its group directory; the reports say why.
  const removeGroupDirs = async () => {
    for (const parent of (await parents()).keys()) await rmdir(join(parent, group)).catch(() => undefined);
  };

  const reap = async (keep: Iterable<string> = []): Promise<CgroupReapReport> => {
    const kept = new Set([...keep].map(unitCgroupName));
    const report: CgroupReapReport = { removed: [], killed: [], survivors: [] };
    const seen = new Map<string, string[]>(); // unit cgroup name -> the parents it is under
    for (const parent of (await parents()).keys()) {
      for (const dir of await childDirs(join(parent, group))) {
        const name = dir.slice(dir.lastIndexOf("/") + 1);
        seen.set(name, [...(seen.get(name) ?? []), parent]);
      }
    }
    for (const [name, under] of seen) {
      if (kept.has(name)) for (const parent of under) know(name, parent);
      if (kept.has(name) || inUse.has(name)) continue;
      const before = new Set<number>();
      for (const parent of (await parents()).keys()) for (const pid of await cgroupTreePids(join(parent, group, name))) before.add(pid);
      const survivors = await removeUnit(name);
      report.removed.push(name);
      report.killed.push(...before);
      report.survivors.push(...survivors);
    }
    return report;
  };

  return {
    group,
    host,
    async create(unit, settings, user) {
      const name = unitCgroupName(unit);
      inUse.set(name, (inUse.get(name) ?? 0) + 1);
      let released = false;
      const release = async () => {
        if (released) return;
        released = true;
        try {
          const left = await removeUnit(name, known.get(name) ?? new Set());
          if (left.length) throw new HsuError("internal", describeLeftovers(left), { unit });
        } finally {
          const n = (inUse.get(name) ?? 1) - 1;
          if (n > 0) inUse.set(name, n);
          else inUse.delete(name);
          // The last unit gone: nothing of ours stays in the hierarchy (a unit starting meanwhile recreates it).
          if (inUse.size === 0) await removeGroupDirs();
        }
      };
      const h = await host();
      const dirs: string[] = [];
      const joinDirs: string[] = [];
      let uncontained: string | undefined = h.containment.version ? undefined : h.containment.reason;
      try {
        if (h.containment.parentDir) {
          try {
            // Known before it is made: a release after a failure halfway removes it too.
            know(name, h.containment.parentDir);
            dirs.push(await makeUnitDir(h.containment.parentDir, group, name, [], user));
            if (!user || h.containment.version === "v1") joinDirs.push(dirs[0]!);
          } catch (error) {
            uncontained = `cannot create its cgroup under ${h.containment.parentDir}: ${(error as Error).message}`;
          }
        }
        const byParent = new Map<string, CgroupSetting[]>();
        for (const s of settings) {
          const parent = h.controllers[s.controller].parentDir!;
          byParent.set(parent, [...(byParent.get(parent) ?? []), s]);
        }
        for (const [parent, list] of byParent) {
          const v2 = h.controllers[list[0]!.controller].version === "v2";
          know(name, parent);
          const dir = await makeUnitDir(parent, group, name, v2 ? [...new Set(list.map((s) => s.controller))] : [], user);
          if (!dirs.includes(dir)) dirs.push(dir);
          if (!joinDirs.includes(dir)) joinDirs.push(dir);
          for (const s of list) await writeFile(join(dir, s.file), s.value);
        }
      } catch (error) {
        await release().catch(() => undefined);
        throw new HsuError("internal", `cannot set up the unit's cgroup (${(error as Error).message}); resource limits could not be applied`, { unit }, { cause: error });
      }
      return { dirs, joinDirs, ...(uncontained !== undefined ? { uncontained } : {}), release };
    },
    reap,
    unitOf(pid) {
      let text: string;
      try {
        text = readFileSync(`/proc/${pid}/cgroup`, "utf8");
      } catch {
        return undefined;
      }
      const marker = `/${group}/`;
      for (const line of text.split("\n")) {
        const at = line.indexOf(marker);
        if (at >= 0) return line.slice(at + marker.length).split("/")[0];
      }
      return undefined;
    },
    async close() {
      const report = await reap();
      await removeGroupDirs();
      return report;
    },
  };
}

/** One sentence naming what stayed behind: the surviving pids and their cgroup, or why a cgroup could not be removed. */
export function describeLeftovers(left: Leftover[]): string {
  const parts = left.map((l) =>
    l.pids.length ? `processes ${l.pids.join(", ")} survived SIGKILL in cgroup ${l.dir}` : `cgroup ${l.dir} could not be removed: ${l.error ?? "busy"}`,
  );
  return parts.join("; ");
}

async function makeUnitDir(parent: string, group: string, name: string, v2Controllers: string[], user?: { uid: number; gid: number }): Promise<string> {
  const home = join(parent, group);
  const dir = join(home, name);
  // The common case on a spawn (the group directory is there, no controller to enable): one mkdir.
  const made = v2Controllers.length > 0 ? false : await mkdir(dir).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === "EEXIST") return true;
      if (error.code === "ENOENT") return false;
      throw error;
    },
  );
  // The group directory goes when its last unit does; one removed between these steps is simply made again.
  for (let attempt = 0; !made; attempt++) {
    try {
      await mkdir(home, { recursive: true });
      // On cgroup v2 a controller reaches the unit's cgroup only if every level above enables it for its children.
      for (const c of v2Controllers) await writeFile(join(home, "cgroup.subtree_control"), `+${c}`);
      await mkdir(dir);
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST") break;
      if (code !== "ENOENT" || attempt >= 3) throw error;
    }
  }
  // A unit running as another user moves itself in (the join wrapper), so it needs write access to cgroup.procs.
  if (user) await chown(join(dir, "cgroup.procs"), user.uid, user.gid);
  return dir;
}
