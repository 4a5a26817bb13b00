import { randomBytes } from "node:crypto";
import { access, constants, mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import type { LimitName } from "./limits.ts";

/** The cgroup controllers HSU uses. */
export type CgroupController = "cpu" | "memory" | "pids" | "io";

/** Whether HSU can create cgroups with one controller, and where. */
export interface ControllerSupport {
  /** "v2" / "v1" when usable, undefined when not. */
  version?: "v2" | "v1";
  /** The cgroup under which unit cgroups are created (our own, i.e. the master's, cgroup). */
  parentDir?: string;
  /** Interface files a fresh child cgroup has (e.g. memory.swap.max), to know what can be set. */
  files: string[];
  /** Why it is (not) usable. */
  reason: string;
}

/**
 * Where every unit gets a cgroup of its own so that stop kills all of its
 * processes, also those that left its process group (setsid, double fork).
 * Needs no controller: cgroup v2's core files (cgroup.procs, cgroup.kill,
 * cgroup.freeze) or any writable v1 hierarchy (freezer preferred) do.
 */
export interface ContainmentSupport {
  /** "v2" / "v1" when unit cgroups can be created, undefined when not (stop falls back to the process group). */
  version?: "v2" | "v1";
  /** The cgroup under which unit cgroups are created (the master's own). */
  parentDir?: string;
  /**
   * How a unit cgroup is emptied: "cgroup.kill" (v2, Linux 5.14+: one write kills all), "freeze" (freeze,
   * SIGKILL every pid, thaw: nothing can fork in between), "signal" (SIGKILL every pid until none is left).
   */
  kill?: "cgroup.kill" | "freeze" | "signal";
  /** Why it is (not) usable. */
  reason: string;
}

/** How a limit is applied on this host. */
export type Enforcement = "cgroup-v2" | "cgroup-v1" | "rlimit" | "monitor" | "none";

/** What this host offers for enforcing resource limits, and why; detected once per process. */
export interface HostCapabilities {
  uid: number;
  /** One line, e.g. "cgroup v1 (hybrid: cgroup2 at /sys/fs/cgroup/unified has controllers: hugetlb)". */
  cgroupSummary: string;
  controllers: Record<CgroupController, ControllerSupport>;
  /** Where unit cgroups that contain (and kill) all of a unit's processes are created. */
  containment: ContainmentSupport;
  /** Path of util-linux prlimit, used as an exec wrapper to set rlimits; undefined if missing. */
  prlimitPath?: string;
  /** False as root: the kernel exempts root (CAP_SYS_RESOURCE/CAP_SYS_ADMIN) from RLIMIT_NPROC. */
  nprocRlimitEffective: boolean;
  /** For each limit: how it is applied here and why. */
  limits: Record<LimitName, { enforcement: Enforcement; detail: string }>;
}

/** Where the host detection looks; tests or unusual mounts may override. */
export interface HostDetectionOptions {
  procRoot?: string;
  /** Directories searched for `prlimit`; $PATH plus /usr/bin and /bin by default. */
  searchPath?: string[];
}

let cached: Promise<HostCapabilities> | undefined;

/**
 * What resource limits this host can enforce and how, for `hsu` to show and
 * for the planner to choose from. Detected once per process and cached. The
 * probe creates and removes one empty cgroup per usable controller, and on
 * cgroup v2 enables missing controllers in our own cgroup's subtree_control.
 */
export function describeHostCapabilities(): Promise<HostCapabilities> {
  cached ??= detectHostCapabilities();
  return cached;
}

/** Runs the detection without the cache. */
export async function detectHostCapabilities(options: HostDetectionOptions = {}): Promise<HostCapabilities> {
  const procRoot = options.procRoot ?? "/proc";
  const uid = process.getuid?.() ?? -1;
  const [mountinfo, selfCgroup] = await Promise.all([
    readFile(`${procRoot}/self/mountinfo`, "utf8").catch(() => ""),
    readFile(`${procRoot}/self/cgroup`, "utf8").catch(() => ""),
  ]);
  const mounts = parseCgroupMounts(mountinfo);
  const own = parseOwnCgroups(selfCgroup);
  const v2 = mounts.find((m) => m.v2);
  const v2Controllers = v2 ? await readWords(join(cgroupDir(v2.mountPoint, v2.root, own.v2 ?? "/"), "cgroup.controllers")) : [];
  const hasV1 = mounts.some((m) => !m.v2 && m.controllers.length > 0);
  const cgroupSummary = !v2 && !hasV1
    ? "no cgroup filesystem mounted"
    : hasV1
      ? `cgroup v1${v2 ? ` (hybrid: cgroup2 at ${v2.mountPoint} has controllers: ${v2Controllers.join(" ") || "none"})` : ""}`
      : `cgroup v2 at ${v2!.mountPoint}`;

  const controllers = {} as Record<CgroupController, ControllerSupport>;
  for (const controller of ["cpu", "memory", "pids", "io"] as const) {
    controllers[controller] = await detectController(controller, mounts, own, v2Controllers, cgroupSummary);
  }
  const containment = await detectContainment(mounts, own, cgroupSummary);
  const prlimitPath = await findExecutable("prlimit", options.searchPath);
  const nprocRlimitEffective = uid !== 0;
  return {
    uid,
    cgroupSummary,
    controllers,
    containment,
    ...(prlimitPath ? { prlimitPath } : {}),
    nprocRlimitEffective,
    limits: planEnforcement(controllers, prlimitPath, nprocRlimitEffective),
  };
}

interface CgroupMount {
  mountPoint: string;
  root: string;
  v2: boolean;
  controllers: string[];
}

function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const fields = left.split(" ");
    const [fstype, , superOptions = ""] = right.split(" ");
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    mounts.push({
      root: unescapeMount(fields[3] ?? "/"),
      mountPoint: unescapeMount(fields[4] ?? ""),
      v2: fstype === "cgroup2",
      controllers: fstype === "cgroup" ? superOptions.split(",").filter((o) => v1Names.has(o)) : [],
    });
  }
  return mounts;
}

const v1Names = new Set(["cpu", "cpuacct", "memory", "pids", "blkio", "cpuset", "devices", "freezer"]);

function unescapeMount(text: string): string {
  return text.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function parseOwnCgroups(text: string): { v2?: string; v1: Map<string, string> } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") v2 = m[3]!;
    else for (const name of m[2]!.split(",")) v1.set(name, m[3]!);
  }
  return { ...(v2 !== undefined ? { v2 } : {}), v1 };
}

function cgroupDir(mountPoint: string, mountRoot: string, path: string): string {
  const relative = mountRoot !== "/" && path.startsWith(mountRoot) ? path.slice(mountRoot.length) : path;
  const dir = join(mountPoint, relative);
  return dir.length > 1 && dir.endsWith("/") ? dir.slice(0, -1) : dir;
}

async function readWords(file: string): Promise<string[]> {
  try {
    return (await readFile(file, "utf8")).split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

async function detectController(
  controller: CgroupController,
  mounts: CgroupMount[],
  own: { v2?: string; v1: Map<string, string> },
  v2Controllers: string[],
  summary: string,
): Promise<ControllerSupport> {
  const reasons: string[] = [];
  const v2 = mounts.find((m) => m.v2);
  if (v2 && own.v2 !== undefined && v2Controllers.includes(controller)) {
    const dir = cgroupDir(v2.mountPoint, v2.root, own.v2);
    const enabled = await enableSubtreeController(dir, controller);
    if (enabled !== true) reasons.push(enabled);
    else {
      const probe = await probeChild(dir);
      if (probe.ok) return { version: "v2", parentDir: dir, files: probe.files, reason: `cgroup v2 under ${dir}` };
      reasons.push(`cannot create a cgroup under ${dir}: ${probe.error}`);
    }
  } else {
    reasons.push(`no writable cgroup v2 ${controller} controller (found ${summary})`);
  }
  const v1Name = controller === "io" ? "blkio" : controller;
  const v1 = mounts.find((m) => !m.v2 && m.controllers.includes(v1Name));
  if (controller === "io") {
    if (v1) reasons.push("cgroup v1 blkio is not used: its throttling misses buffered writes and its weights need the BFQ scheduler");
    return { files: [], reason: reasons.join("; ") };
  }
  const ownPath = own.v1.get(v1Name);
  if (v1 && ownPath !== undefined) {
    const dir = cgroupDir(v1.mountPoint, v1.root, ownPath);
    const probe = await probeChild(dir);
    if (probe.ok) return { version: "v1", parentDir: dir, files: probe.files, reason: `cgroup v1 under ${dir}` };
    reasons.push(`cgroup v1 ${v1Name} at ${dir} is not writable: ${probe.error}`);
  } else if (!v1) {
    reasons.push(`no cgroup v1 ${v1Name} hierarchy mounted`);
  }
  return { files: [], reason: reasons.join("; ") };
}

// v1 hierarchies tried for containment, best first: the freezer stops forks while pids are killed; cpuset is
// left out because a new cpuset cgroup takes no process before cpuset.cpus and cpuset.mems are set.
const v1Containers = ["freezer", "pids", "memory", "cpu", "cpuacct", "devices", "blkio"];

async function detectContainment(mounts: CgroupMount[], own: { v2?: string; v1: Map<string, string> }, summary: string): Promise<ContainmentSupport> {
  const reasons: string[] = [];
  const v2 = mounts.find((m) => m.v2);
  if (v2 && own.v2 !== undefined) {
    const dir = cgroupDir(v2.mountPoint, v2.root, own.v2);
    const probe = await probeChild(dir);
    if (probe.ok) {
      const kill = probe.files.includes("cgroup.kill") ? "cgroup.kill" : probe.files.includes("cgroup.freeze") ? "freeze" : "signal";
      return { version: "v2", parentDir: dir, kill, reason: `cgroup v2 under ${dir} (${kill})` };
    }
    reasons.push(`cannot create a cgroup under ${dir}: ${probe.error}`);
  }
  for (const name of v1Containers) {
    const mount = mounts.find((m) => !m.v2 && m.controllers.includes(name));
    const ownPath = own.v1.get(name);
    if (!mount || ownPath === undefined) continue;
    const dir = cgroupDir(mount.mountPoint, mount.root, ownPath);
    const probe = await probeChild(dir);
    if (probe.ok) {
      const kill = probe.files.includes("freezer.state") ? "freeze" : "signal";
      return { version: "v1", parentDir: dir, kill, reason: `cgroup v1 ${name} under ${dir} (${kill})` };
    }
    reasons.push(`cgroup v1 ${name} at ${dir} is not writable: ${probe.error}`);
  }
  if (reasons.length === 0) reasons.push(`no cgroup hierarchy to create unit cgroups in (found ${summary})`);
  return { reason: reasons.join("; ") };
}

async function enableSubtreeController(dir: string, controller: string): Promise<true | string> {
  if ((await readWords(join(dir, "cgroup.subtree_control"))).includes(controller)) return true;
  try {
    await writeFile(join(dir, "cgroup.subtree_control"), `+${controller}`);
    return true;
  } catch (error) {
    return `cannot enable the ${controller} controller for children of ${dir} (${(error as Error).message}); ` +
      "run the master in a delegated cgroup of its own (e.g. systemd Delegate=yes)";
  }
}

async function probeChild(parent: string): Promise<{ ok: true; files: string[] } | { ok: false; error: string }> {
  const dir = join(parent, `hsu-probe-${randomBytes(4).toString("hex")}`);
  try {
    await mkdir(dir);
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  try {
    return { ok: true, files: await readdir(dir) };
  } finally {
    await rmdir(dir);
  }
}

async function findExecutable(name: string, searchPath?: string[]): Promise<string | undefined> {
  const dirs = searchPath ?? [...(process.env.PATH ?? "").split(delimiter), "/usr/bin", "/bin"];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory: keep looking.
    }
  }
  return undefined;
}

/** The per-limit enforcement table for the given controllers and tools (exported for tests of other hosts). */
export function planEnforcement(
  c: Record<CgroupController, ControllerSupport>,
  prlimit: string | undefined,
  nproc: boolean,
): HostCapabilities["limits"] {
  const viaCgroup = (s: ControllerSupport, file: string) =>
    s.version && s.files.includes(file) ? { enforcement: `cgroup-${s.version}` as Enforcement, detail: `${file} (${s.reason})` } : undefined;
  const cpuMax = c.cpu.version === "v2" ? "cpu.max" : "cpu.cfs_quota_us";
  const cpuWeight = c.cpu.version === "v2" ? "cpu.weight" : "cpu.shares";
  const memMax = c.memory.version === "v2" ? "memory.max" : "memory.limit_in_bytes";
  const swapMax = c.memory.version === "v2" ? "memory.swap.max" : "memory.memsw.limit_in_bytes";
  const noPrlimit = "util-linux prlimit not found";
  const nprocNote = nproc ? "" : "; RLIMIT_NPROC does not apply to root";
  const rlimit = (flag: string) => prlimit ? { enforcement: "rlimit" as Enforcement, detail: `prlimit --${flag}` } : undefined;
  const fallback = (enforcement: Enforcement, why: string) => ({ enforcement, detail: why });
  return {
    cpuCores: viaCgroup(c.cpu, cpuMax) ?? fallback("monitor", c.cpu.reason),
    cpuWeight: viaCgroup(c.cpu, cpuWeight) ?? fallback("none", c.cpu.reason),
    memoryBytes: viaCgroup(c.memory, memMax) ?? fallback("monitor", c.memory.reason),
    memorySwapBytes: viaCgroup(c.memory, swapMax) ??
      fallback("none", c.memory.version ? `${swapMax} missing (kernel without swap accounting)` : c.memory.reason),
    maxProcesses: viaCgroup(c.pids, "pids.max") ?? (nproc ? rlimit("nproc") : undefined) ??
      fallback("monitor", `${c.pids.reason}${nprocNote}${prlimit ? "" : `; ${noPrlimit}`}`),
    maxOpenFiles: rlimit("nofile") ?? fallback("monitor", noPrlimit),
    maxAddressSpaceBytes: rlimit("as") ?? fallback("none", noPrlimit),
    ioWeight: viaCgroup(c.io, "io.weight") ?? fallback("none", c.io.reason),
    ioReadBps: viaCgroup(c.io, "io.max") ?? fallback("none", c.io.reason),
    ioWriteBps: viaCgroup(c.io, "io.max") ?? fallback("none", c.io.reason),
  };
}

/** A few lines for people (e.g. `hsu doctor`): how each limit is enforced on this host and why. */
export function formatHostCapabilities(host: HostCapabilities): string {
  const c = host.containment;
  const lines = [
    `cgroups: ${host.cgroupSummary}`,
    `containment: ${c.version ? c.reason : `none, processes that leave their unit's process group can escape stop (${c.reason})`}`,
    `prlimit: ${host.prlimitPath ?? "not found"}`,
  ];
  for (const [name, { enforcement, detail }] of Object.entries(host.limits)) {
    lines.push(`${name}: ${enforcement === "none" ? "not enforced" : enforcement} (${detail})`);
  }
  return lines.join("\n");
}
