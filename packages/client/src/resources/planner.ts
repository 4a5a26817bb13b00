import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HsuError } from "../errors.ts";
import type { LimitPlan, LimitPlanner } from "../supervisor/ports.ts";
import { cgroupSettings } from "./cgroup.ts";
import { cgroupPids } from "./cgroup-empty.ts";
import { createCgroupHome, type CgroupHome } from "./cgroup-home.ts";
import type { HostCapabilities } from "./host.ts";
import { validateResourceLimits, type LimitName, type ResourceLimits } from "./limits.ts";
import { isRunning, readStat } from "./proc.ts";

// The planner is the supervisor's limit-planner port; its types are defined there, once.
export type { LimitPlan, LimitPlanner };

/** Options of createLimitPlanner. */
export interface LimitPlannerOptions {
  /** Host capabilities; detected once per process by default. Ignored when `cgroups` is given (its host counts). */
  host?: HostCapabilities;
  /**
   * Where the units' cgroups live and whose they are. A master passes one
   * marked with its owner, so that the next master finds them after a crash
   * (and reaps or keeps them); a home with a random owner by default.
   */
  cgroups?: CgroupHome;
  /** Receives each distinct warning once per process; process.emitWarning by default. */
  onWarning?: (message: string) => void;
  /** The shell that joins the cgroups before exec'ing the command; /bin/sh by default. */
  shell?: string;
  /**
   * The user a unit runs as, when not the master's: its cgroups' cgroup.procs
   * are given to that user so the join wrapper (running as the unit) can move itself in.
   */
  ownerOf?: (unit: string) => { uid: number; gid: number } | undefined;
}

const emitted = new Set<string>();

// Moves itself into each cgroup directory given before "--", then execs the rest unchanged (no shell parsing of the command).
const JOIN_SCRIPT =
  'for d do if [ "$d" = -- ]; then shift; exec "$@"; fi; ' +
  'echo $$ > "$d/cgroup.procs" || { echo "hsu: cannot join cgroup $d" >&2; exit 125; }; shift; done; exit 125';

/**
 * Creates the planner that contains each unit and turns its ResourceLimits
 * into kernel enforcement. Every unit, with limits or not, gets a
 * containment cgroup where the host allows one (so that stopping it kills
 * processes that left its process group); where it does not, the first plan
 * of each unit carries `escapeWarning`. Limits: cgroups (v2, else v1) for CPU, memory, processes and I/O,
 * rlimits via util-linux `prlimit` for open files, processes and address
 * space. What cannot be enforced is listed in `plan.warnings` (the
 * LimitMonitor watches memory, CPU, processes and open files everywhere).
 * Note: RLIMIT_NPROC counts every process of the unit's user, not just the
 * unit's, and does not apply to root at all.
 */
export function createLimitPlanner(options: LimitPlannerOptions = {}): LimitPlanner {
  const onWarning = options.onWarning ?? ((m: string) => process.emitWarning(m, "HsuResourceLimitWarning"));
  const shell = options.shell ?? "/bin/sh";
  const home = options.cgroups ?? createCgroupHome(options.host ? { host: options.host } : {});
  const warnedEscape = new Set<string>();
  return async (unit, input) => {
    const limits = validateResourceLimits(input, { unit, field: "limits" });
    const host = await home.host();
    const warnings = warningsFor(unit, limits, host);
    for (const w of warnings) {
      if (!emitted.has(w)) {
        emitted.add(w);
        onWarning(w);
      }
    }
    const settings = await cgroupSettings(limits, host);
    const cgroups = await home.create(unit, settings, options.ownerOf?.(unit));
    let escapeWarning: string | undefined;
    if (cgroups.uncontained !== undefined && !warnedEscape.has(unit)) {
      warnedEscape.add(unit);
      escapeWarning = `processes that leave the unit's process group (setsid, a double fork) can outlive its stop: no cgroup contains them (${cgroups.uncontained})`;
    }
    const rlimits = host.prlimitPath ? prlimitFlags(limits) : [];
    return {
      warnings,
      ...(escapeWarning !== undefined ? { escapeWarning } : {}),
      wrap(command, args) {
        let argv = [command, ...args];
        if (rlimits.length) argv = [host.prlimitPath!, ...rlimits, "--", ...argv];
        if (cgroups.joinDirs.length) argv = [shell, "-c", JOIN_SCRIPT, "hsu-cgroup-join", ...cgroups.joinDirs, "--", ...argv];
        return { command: argv[0]!, args: argv.slice(1) };
      },
      async afterSpawn(pid) {
        for (const dir of cgroups.dirs) await ensureMember(unit, dir, pid);
      },
      release: cgroups.release,
    };
  };
}

function prlimitFlags(limits: ResourceLimits): string[] {
  const flags: string[] = [];
  if (limits.maxOpenFiles !== undefined) flags.push(`--nofile=${limits.maxOpenFiles}:${limits.maxOpenFiles}`);
  if (limits.maxProcesses !== undefined) flags.push(`--nproc=${limits.maxProcesses}:${limits.maxProcesses}`);
  if (limits.maxAddressSpaceBytes !== undefined) flags.push(`--as=${limits.maxAddressSpaceBytes}:${limits.maxAddressSpaceBytes}`);
  return flags;
}

async function ensureMember(unit: string, dir: string, pid: number): Promise<void> {
  try {
    // Idempotent: the wrapper normally did this already; covers a wrapper that was bypassed.
    await writeFile(join(dir, "cgroup.procs"), String(pid));
  } catch (error) {
    if (!isRunning(await readStat(pid))) return;
    throw new HsuError("internal", `cannot move pid ${pid} into cgroup ${dir} (${(error as Error).message}); its cgroup's containment and limits are not in force`, { unit }, { cause: error });
  }
  if (!(await cgroupPids(dir)).includes(pid) && isRunning(await readStat(pid))) {
    throw new HsuError("internal", `pid ${pid} is not in its cgroup ${dir} after joining it; its cgroup's containment and limits are not in force`, { unit });
  }
}

const limitNames: readonly LimitName[] = [
  "cpuCores", "cpuWeight", "memoryBytes", "memorySwapBytes", "maxProcesses", "maxOpenFiles",
  "maxAddressSpaceBytes", "ioWeight", "ioReadBps", "ioWriteBps",
];

/** One sentence per requested limit this host cannot (fully) enforce. */
export function warningsFor(unit: string, limits: ResourceLimits, host: HostCapabilities): string[] {
  const warnings: string[] = [];
  for (const name of limitNames) {
    if (limits[name] === undefined) continue;
    const { enforcement, detail } = host.limits[name];
    if (enforcement === "monitor") {
      warnings.push(`unit "${unit}": ${name} cannot be enforced by the kernel: ${detail}; watched by the resource monitor instead (policy "${limits.policy}")`);
    } else if (enforcement === "none") {
      warnings.push(`unit "${unit}": ${name} cannot be enforced: ${detail}; not enforced`);
    } else if (name === "memorySwapBytes" && enforcement === "cgroup-v1" && limits.memoryBytes === undefined) {
      warnings.push(`unit "${unit}": memorySwapBytes cannot be enforced without memoryBytes on cgroup v1 (it limits memory and swap together); not enforced`);
    }
  }
  return warnings;
}
