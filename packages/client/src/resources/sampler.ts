import { createSystemClock, type Clock } from "../clock.ts";
import {
  CLOCK_TICKS_PER_SECOND,
  countOpenFdsSync,
  getPageSize,
  readProcTable,
  readRssPagesSync,
  readUptimeSeconds,
  yieldToLoop,
  type ProcStat,
} from "./proc.ts";

/** What one process of a sampled tree uses. */
export interface ProcessUsage {
  pid: number;
  ppid: number;
  /** /proc/<pid>/comm. */
  name: string;
  rssBytes: number;
  openFds: number;
  threads: number;
}

/** Resource use of a process and all its descendants, summed. */
export interface ResourceUsage {
  /** The root pid that was sampled. */
  pid: number;
  /** False when the root process no longer exists (or is a zombie); then every figure is 0. */
  alive: boolean;
  /** Clock time (ms) of the sample. */
  at: number;
  /** CPU use since the previous sample, 100 = one core fully busy. */
  cpuPercent: number;
  /** Sum of resident set sizes (pages shared between processes are counted once per process). */
  rssBytes: number;
  openFds: number;
  threads: number;
  /** Root first, then descendants in breadth-first order. */
  pids: number[];
  processes: ProcessUsage[];
}

/** Options shared by the samplers. */
export interface ResourceSamplerOptions {
  clock?: Clock;
  /** Where procfs is mounted; "/proc" unless testing against a copy. */
  procRoot?: string;
  /** Clock ticks per second of /proc CPU times (USER_HZ); 100 by default. */
  ticksPerSecond?: number;
  /**
   * A group reuses a scan of /proc younger than this for other trees, so
   * monitors ticking at different moments share scans; 0 (always fresh) by default.
   */
  maxScanAgeMs?: number;
}

/** Samples one process tree. */
export interface ResourceSampler {
  sample(): Promise<ResourceUsage>;
}

/** Samples many process trees from one scan of /proc, for supervising many units cheaply. */
export interface ResourceSamplerGroup {
  /** One usage per root pid; CPU figures are deltas since this group last sampled that pid. */
  sampleMany(rootPids: readonly number[]): Promise<Map<number, ResourceUsage>>;
  /** Forgets the CPU history of a root pid (call when a unit goes away). */
  forget(rootPid: number): void;
}

interface History {
  at: number;
  usage: ResourceUsage;
  /** Key "pid:startTime" -> cpu ticks, so a reused pid never inherits old ticks. */
  ticks: Map<string, number>;
}

/** One read of /proc: every process's stat line, plus per-process reads done on demand. */
interface Scan {
  at: number;
  table: Map<number, ProcStat>;
  children: Map<number, ProcStat[]>;
  uptime: number;
  pageSize: number;
  /** Trees can overlap (a unit inside another's tree): each process is read once per scan. */
  reads: Map<number, { rssPages: number; fds: number }>;
}

/** Creates a sampler group; see {@link ResourceSamplerGroup}. */
export function createResourceSamplerGroup(options: ResourceSamplerOptions = {}): ResourceSamplerGroup {
  const clock = options.clock ?? createSystemClock();
  const procRoot = options.procRoot ?? "/proc";
  const hz = options.ticksPerSecond ?? CLOCK_TICKS_PER_SECOND;
  const maxAge = options.maxScanAgeMs ?? 0;
  const histories = new Map<number, History>();

  function sampleTree(root: number, scan: Scan): ResourceUsage {
    const { table, children, at, uptime, pageSize } = scan;
    const rootStat = table.get(root);
    if (!rootStat || rootStat.state === "Z" || rootStat.state === "X") {
      histories.delete(root);
      return { pid: root, alive: false, at, cpuPercent: 0, rssBytes: 0, openFds: 0, threads: 0, pids: [], processes: [] };
    }
    const tree: ProcStat[] = [rootStat];
    for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!.pid) ?? []));

    const previous = histories.get(root);
    // Asked again within the same scan: nothing new to measure.
    if (previous?.at === at) return previous.usage;
    const perProcess = tree.map((p) => readOnce(scan, p.pid));
    const ticks = new Map<string, number>();
    let cpuSeconds = 0;
    let firstSampleShare = 0;
    tree.forEach((p) => {
      const key = `${p.pid}:${p.startTime}`;
      ticks.set(key, p.cpuTicks);
      if (previous) {
        // A process not seen last time was born inside the window: all its ticks count.
        cpuSeconds += (p.cpuTicks - (previous.ticks.get(key) ?? 0)) / hz;
      } else {
        const lifetime = uptime - p.startTime / hz;
        if (lifetime > 0) firstSampleShare += p.cpuTicks / hz / lifetime;
      }
    });
    const elapsed = previous ? (at - previous.at) / 1000 : 0;
    const cpuPercent = previous ? (elapsed > 0 ? (Math.max(0, cpuSeconds) / elapsed) * 100 : 0) : firstSampleShare * 100;

    const processes = tree.map((p, i) => ({
      pid: p.pid,
      ppid: p.ppid,
      name: p.comm,
      rssBytes: perProcess[i]!.rssPages * pageSize,
      openFds: perProcess[i]!.fds,
      threads: p.threads,
    }));
    const usage: ResourceUsage = {
      pid: root,
      alive: true,
      at,
      cpuPercent,
      rssBytes: processes.reduce((s, p) => s + p.rssBytes, 0),
      openFds: processes.reduce((s, p) => s + p.openFds, 0),
      threads: processes.reduce((s, p) => s + p.threads, 0),
      pids: processes.map((p) => p.pid),
      processes,
    };
    histories.set(root, { at, usage, ticks });
    return usage;
  }

  const readOnce = (scan: Scan, pid: number) => {
    let read = scan.reads.get(pid);
    if (!read) {
      read = { rssPages: readRssPagesSync(pid, procRoot), fds: countOpenFdsSync(pid, procRoot) };
      scan.reads.set(pid, read);
    }
    return read;
  };

  let latest: Scan | undefined;
  let inFlight: Promise<Scan> | undefined;
  const freshScan = async (): Promise<Scan> => {
    const [table, uptime, pageSize] = await Promise.all([readProcTable(procRoot), readUptimeSeconds(procRoot), getPageSize()]);
    const children = new Map<number, ProcStat[]>();
    for (const stat of table.values()) {
      const list = children.get(stat.ppid);
      if (list) list.push(stat);
      else children.set(stat.ppid, [stat]);
    }
    return { at: clock.now(), table, children, uptime, pageSize, reads: new Map() };
  };
  const getScan = (): Promise<Scan> => {
    if (latest && maxAge > 0 && clock.now() - latest.at < maxAge) return Promise.resolve(latest);
    // Callers arriving while a scan runs share it.
    inFlight ??= freshScan().then(
      (scan) => {
        latest = scan;
        inFlight = undefined;
        return scan;
      },
      (error: unknown) => {
        inFlight = undefined;
        throw error;
      },
    );
    return inFlight;
  };

  return {
    async sampleMany(rootPids) {
      const scan = await getScan();
      const usages: ResourceUsage[] = [];
      let readAtLastYield = scan.reads.size;
      for (const pid of new Set(rootPids)) {
        usages.push(sampleTree(pid, scan));
        if (scan.reads.size - readAtLastYield >= 64) {
          readAtLastYield = scan.reads.size;
          await yieldToLoop();
        }
      }
      return new Map(usages.map((u) => [u.pid, u]));
    },
    forget(rootPid) {
      histories.delete(rootPid);
    },
  };
}

/**
 * Creates a sampler for `rootPid` and all its descendants, read from /proc
 * (never a `ps` subprocess). The first sample's CPU figure is the average
 * since each process started; later ones cover the time since the previous sample.
 * Descendants that were re-parented away (daemonized grandchildren) are not
 * part of the tree any more; cgroups are what catch those.
 */
export function createResourceSampler(rootPid: number, options: ResourceSamplerOptions = {}): ResourceSampler {
  const group = createResourceSamplerGroup(options);
  return {
    async sample() {
      return (await group.sampleMany([rootPid])).get(rootPid)!;
    },
  };
}
