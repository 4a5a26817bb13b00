import { HsuError } from "../errors.ts";
import { createSystemClock, type Clock } from "../clock.ts";
import { kernelEnforcedLimits } from "./enforced.ts";
import type { LimitMonitor, LimitMonitorFactory, LimitViolation } from "../supervisor/ports.ts";
import { validateResourceLimits, type ResourceLimits } from "./limits.ts";
import { createResourceSamplerGroup, type ResourceSamplerGroup, type ResourceUsage } from "./sampler.ts";

// The monitor is the supervisor's limit-monitor port; its types are defined there, once.
export type { LimitMonitor, LimitMonitorFactory, LimitViolation };

/** Options of createLimitMonitorFactory. */
export interface LimitMonitorOptions {
  clock?: Clock;
  /** Shared sampler group (one /proc scan for all units sampled together); a private one by default. */
  samplers?: ResourceSamplerGroup;
  /** Receives each sample (e.g. for metrics). */
  onUsage?: (unit: string, usage: ResourceUsage) => void;
  /** Receives sampling failures (not vanished processes, which are normal); process.emitWarning by default. */
  onError?: (error: HsuError) => void;
}

/**
 * Creates the factory of LimitMonitors. Each monitor samples the process and
 * its descendants every `checkIntervalMs` and reports: memoryBytes when the
 * tree's RSS is above it; cpuCores when CPU stays above it for
 * `cpuSustainSamples` samples in a row; maxProcesses when the tree has more
 * processes; maxOpenFiles when one process has more open files. Limits the
 * kernel already enforces for that process (its HSU cgroup, its rlimit) are
 * left to the kernel. It stops by itself when the process is gone.
 */
export function createLimitMonitorFactory(options: LimitMonitorOptions = {}): LimitMonitorFactory {
  const clock = options.clock ?? createSystemClock();
  // Monitors of many units tick at different moments; a short scan reuse window lets them share reads of /proc.
  const samplers = options.samplers ?? createResourceSamplerGroup({ clock, maxScanAgeMs: 250 });
  const onError = options.onError ?? ((e: HsuError) => process.emitWarning(e.message, "HsuResourceMonitorWarning"));
  return (unit, pid, input) => {
    const limits = validateResourceLimits(input, { unit, field: "limits" });
    const listeners = new Set<(v: LimitViolation) => void>();
    let judge: ((usage: ResourceUsage) => LimitViolation[]) | undefined;
    let timer: { cancel(): void } | undefined;
    let stopped = false;
    let lastAt: number | undefined;

    const tick = async () => {
      try {
        // Decided on the first tick, once the process has joined its cgroups (afterSpawn).
        judge ??= createJudge(limits, await kernelEnforcedLimits(pid, limits));
        const usage = (await samplers.sampleMany([pid])).get(pid)!;
        if (stopped) return;
        if (!usage.alive) return stop();
        // A scan shared with other monitors may be the one this monitor already judged.
        if (usage.at !== lastAt) {
          lastAt = usage.at;
          options.onUsage?.(unit, usage);
          for (const v of judge(usage)) for (const l of [...listeners]) l(v);
        }
      } catch (error) {
        onError(new HsuError("internal", `resource sampling of pid ${pid} failed: ${(error as Error).message}`, { unit }, { cause: error }));
      }
      if (!stopped) timer = clock.setTimer(limits.checkIntervalMs, () => void tick());
    };
    const stop = () => {
      stopped = true;
      timer?.cancel();
      samplers.forget(pid);
    };
    const watched = limits.memoryBytes !== undefined || limits.cpuCores !== undefined ||
      limits.maxProcesses !== undefined || limits.maxOpenFiles !== undefined;
    // The first sample only establishes the CPU baseline, so it runs right away; nothing to watch, nothing to sample.
    if (watched || options.onUsage) void tick();
    return {
      stop,
      onViolation(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
  };
}

/**
 * The violation logic, separate from sampling so it is a pure function of
 * successive usages: returns the violations that start with this sample.
 */
export function createJudge(limits: ResourceLimits, skip: ReadonlySet<string> = new Set()): (usage: ResourceUsage) => LimitViolation[] {
  const active = new Set<string>();
  let cpuStreak = 0;
  let samples = 0;
  return (usage) => {
    samples++;
    const found: LimitViolation[] = [];
    const check = (limit: string, over: boolean, value: number, max: number) => {
      if (skip.has(limit)) return;
      if (!over) active.delete(limit);
      else if (!active.has(limit)) {
        active.add(limit);
        found.push({ limit, value, max, policy: limits.policy });
      }
    };
    if (limits.memoryBytes !== undefined) check("memoryBytes", usage.rssBytes > limits.memoryBytes, usage.rssBytes, limits.memoryBytes);
    if (limits.cpuCores !== undefined && samples > 1) {
      // The first sample is a lifetime average, not a window, so it never counts.
      cpuStreak = usage.cpuPercent > limits.cpuCores * 100 ? cpuStreak + 1 : 0;
      check("cpuCores", cpuStreak >= limits.cpuSustainSamples, usage.cpuPercent / 100, limits.cpuCores);
    }
    if (limits.maxProcesses !== undefined) check("maxProcesses", usage.pids.length > limits.maxProcesses, usage.pids.length, limits.maxProcesses);
    if (limits.maxOpenFiles !== undefined) {
      const most = Math.max(0, ...usage.processes.map((p) => p.openFds));
      check("maxOpenFiles", most > limits.maxOpenFiles, most, limits.maxOpenFiles);
    }
    return found;
  };
}
