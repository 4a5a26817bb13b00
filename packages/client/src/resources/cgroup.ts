import { readdir, readFile } from "node:fs/promises";
import type { CgroupController, HostCapabilities } from "./host.ts";
import type { IoBandwidth, ResourceLimits } from "./limits.ts";

/** A setting to write into a unit's cgroup: file name and content. */
export interface CgroupSetting {
  controller: CgroupController;
  file: string;
  value: string;
}

/**
 * The cgroup files and values for `limits` on this host. Only controllers
 * that the host detection found usable appear; the planner reports the rest.
 */
export async function cgroupSettings(limits: ResourceLimits, host: HostCapabilities): Promise<CgroupSetting[]> {
  const out: CgroupSetting[] = [];
  const { cpu, memory, pids, io } = host.controllers;
  const has = (s: typeof cpu, file: string) => s.version !== undefined && s.files.includes(file);
  if (limits.cpuCores !== undefined && cpu.version === "v2") {
    out.push({ controller: "cpu", file: "cpu.max", value: `${Math.max(1000, Math.round(limits.cpuCores * 100_000))} 100000` });
  } else if (limits.cpuCores !== undefined && has(cpu, "cpu.cfs_quota_us")) {
    // cfs_quota_us is written after the period so the quota matches the period in force.
    out.push({ controller: "cpu", file: "cpu.cfs_period_us", value: "100000" });
    out.push({ controller: "cpu", file: "cpu.cfs_quota_us", value: String(Math.max(1000, Math.round(limits.cpuCores * 100_000))) });
  }
  if (limits.cpuWeight !== undefined && has(cpu, "cpu.weight")) {
    out.push({ controller: "cpu", file: "cpu.weight", value: String(limits.cpuWeight) });
  } else if (limits.cpuWeight !== undefined && has(cpu, "cpu.shares")) {
    // The inverse of the shares -> weight conversion in validateResourceLimits (runc's).
    out.push({ controller: "cpu", file: "cpu.shares", value: String(2 + Math.round(((limits.cpuWeight - 1) * 262142) / 9999)) });
  }
  if (memory.version === "v2") {
    if (limits.memoryBytes !== undefined) out.push({ controller: "memory", file: "memory.max", value: String(limits.memoryBytes) });
    // An out-of-memory unit dies as a whole instead of limping on without the process the kernel picked.
    if (limits.memoryBytes !== undefined && has(memory, "memory.oom.group")) out.push({ controller: "memory", file: "memory.oom.group", value: "1" });
    if (limits.memorySwapBytes !== undefined && has(memory, "memory.swap.max")) {
      out.push({ controller: "memory", file: "memory.swap.max", value: String(limits.memorySwapBytes) });
    }
  } else if (memory.version === "v1" && limits.memoryBytes !== undefined) {
    out.push({ controller: "memory", file: "memory.limit_in_bytes", value: String(limits.memoryBytes) });
    // v1 caps memory and swap together; without memorySwapBytes the host's swap policy stays.
    if (limits.memorySwapBytes !== undefined && has(memory, "memory.memsw.limit_in_bytes")) {
      const total = limits.memoryBytes + limits.memorySwapBytes;
      out.push({ controller: "memory", file: "memory.memsw.limit_in_bytes", value: String(total) });
    }
  }
  if (limits.maxProcesses !== undefined && has(pids, "pids.max")) {
    out.push({ controller: "pids", file: "pids.max", value: String(limits.maxProcesses) });
  }
  if (io.version === "v2") {
    if (limits.ioWeight !== undefined && has(io, "io.weight")) out.push({ controller: "io", file: "io.weight", value: `default ${limits.ioWeight}` });
    const lines = await ioMaxLines(limits.ioReadBps, limits.ioWriteBps);
    for (const line of lines) out.push({ controller: "io", file: "io.max", value: line });
  }
  return out;
}

async function ioMaxLines(read: IoBandwidth | undefined, write: IoBandwidth | undefined): Promise<string[]> {
  if (read === undefined && write === undefined) return [];
  const disks = await wholeDisks();
  const perDevice = (bw: IoBandwidth | undefined, device: string) =>
    bw === undefined ? undefined : typeof bw === "number" ? (disks.includes(device) ? bw : undefined) : bw[device];
  const devices = new Set([...disks, ...Object.keys(typeof read === "object" ? read : {}), ...Object.keys(typeof write === "object" ? write : {})]);
  const lines: string[] = [];
  for (const device of devices) {
    const r = perDevice(read, device);
    const w = perDevice(write, device);
    if (r === undefined && w === undefined) continue;
    lines.push(`${device}${r !== undefined ? ` rbps=${r}` : ""}${w !== undefined ? ` wbps=${w}` : ""}`);
  }
  return lines;
}

/** "major:minor" of every real block device (loop and RAM devices skipped), for limits given as one number. */
async function wholeDisks(): Promise<string[]> {
  const names = (await readdir("/sys/block").catch(() => [] as string[])).filter((n) => !/^(loop|ram|zram)/.test(n));
  const devs = await Promise.all(names.map((n) => readFile(`/sys/block/${n}/dev`, "utf8").then((t) => t.trim(), () => "")));
  return devs.filter(Boolean);
}
