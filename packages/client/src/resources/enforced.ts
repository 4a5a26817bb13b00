import { readFile } from "node:fs/promises";
import { describeHostCapabilities, type CgroupController, type HostCapabilities } from "./host.ts";
import { isVanishedError } from "./proc.ts";
import type { ResourceLimits } from "./limits.ts";

// A unit's cgroups are <own cgroup>/hsu-<owner>/<unit> (see cgroup-home.ts).
const unitCgroup = /\/hsu-[^/]+\/[^/]+$/;

/**
 * The limits the kernel already enforces for this very process: it sits in
 * an HSU unit cgroup of the right controller, or its rlimit is at most the
 * limit. The monitor leaves those to the kernel: a process throttled at its
 * CPU quota is not violating it, and RSS (which counts shared file pages)
 * can exceed a memory cgroup's charge without any violation.
 */
export async function kernelEnforcedLimits(
  pid: number,
  limits: ResourceLimits,
  procRoot = "/proc",
  host?: HostCapabilities,
): Promise<Set<string>> {
  const enforced = new Set<string>();
  let cgroups: string;
  let rlimits: string;
  try {
    [cgroups, rlimits] = await Promise.all([
      readFile(`${procRoot}/${pid}/cgroup`, "utf8"),
      readFile(`${procRoot}/${pid}/limits`, "utf8"),
    ]);
  } catch (error) {
    if (isVanishedError(error)) return enforced;
    throw error;
  }
  const h = host ?? (await describeHostCapabilities());
  // Only the hierarchy that carries the controller on this host counts: a hybrid host's cgroup2 line
  // (id 0) names the unit's containment cgroup, which enforces nothing.
  const inUnitCgroup = (controller: CgroupController) => {
    const version = h.controllers[controller].version;
    return version !== undefined && cgroups.split("\n").some((line) => {
      const [id, controllers = "", path = ""] = line.split(":");
      return unitCgroup.test(path) && (version === "v2" ? id === "0" : controllers.split(",").includes(controller));
    });
  };
  if (limits.memoryBytes !== undefined && inUnitCgroup("memory")) enforced.add("memoryBytes");
  if (limits.cpuCores !== undefined && inUnitCgroup("cpu")) enforced.add("cpuCores");
  if (limits.maxProcesses !== undefined && inUnitCgroup("pids")) enforced.add("maxProcesses");
  const soft = /^Max open files\s+(\d+)/m.exec(rlimits)?.[1];
  if (limits.maxOpenFiles !== undefined && soft !== undefined && Number(soft) <= limits.maxOpenFiles) enforced.add("maxOpenFiles");
  return enforced;
}
