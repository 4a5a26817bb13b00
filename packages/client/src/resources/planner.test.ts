import { existsSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { kernelEnforcedLimits } from "./enforced.ts";
import { describeHostCapabilities, planEnforcement, type HostCapabilities } from "./host.ts";
import { validateResourceLimits } from "./limits.ts";
import { createLimitPlanner, type LimitPlan } from "./planner.ts";
import { readStat } from "./proc.ts";
import { createResourceSampler } from "./sampler.ts";
import { killAllTestChildren, spawnTestChild } from "./test-support/children.ts";

const MB = 1024 * 1024;
const host = await describeHostCapabilities();
const cgroupsFor = (...cs: Array<"cpu" | "memory" | "pids">) => cs.every((c) => host.controllers[c].version !== undefined);
const plans: LimitPlan[] = [];

afterEach(async () => {
  await killAllTestChildren();
  for (const plan of plans.splice(0)) await plan.release();
});

async function plan(unit: string, limits: unknown, warnings: string[] = []): Promise<LimitPlan> {
  const p = await createLimitPlanner({ onWarning: (w) => warnings.push(w) })(unit, limits);
  plans.push(p);
  return p;
}

function spawnWrapped(p: LimitPlan, command: string, args: string[]) {
  const wrapped = p.wrap(command, args);
  return spawnTestChild(wrapped.command, wrapped.args);
}

function limitLine(limits: string, name: string): string[] {
  const line = limits.split("\n").find((l) => l.startsWith(name));
  return (line ?? "").slice(name.length).trim().split(/\s+/);
}

describe("limit planner on this host", () => {
  it.skipIf(!host.prlimitPath)("puts open files, processes and address space rlimits in force inside the child", async () => {
    const p = await plan("rl", { maxOpenFiles: 123, maxProcesses: 77, maxAddressSpaceBytes: 4096 * MB });
    const t = spawnWrapped(p, "cat", ["/proc/self/limits"]);
    expect(await t.exited).toEqual({ code: 0, signal: null });
    const limits = t.stdout();
    expect(limitLine(limits, "Max open files").slice(0, 2)).toEqual(["123", "123"]);
    expect(limitLine(limits, "Max processes").slice(0, 2)).toEqual(["77", "77"]);
    expect(limitLine(limits, "Max address space").slice(0, 2)).toEqual([String(4096 * MB), String(4096 * MB)]);
    const sleeper = p.wrap("sleep", ["300"]);
    const s = spawnTestChild(sleeper.command, sleeper.args);
    const checked = validateResourceLimits({ maxOpenFiles: 123 }, { unit: "rl", field: "limits" });
    // Waits for the exec through prlimit, which is when the rlimit is set.
    while ((await readStat(s.pid))?.comm !== "sleep") await new Promise((r) => setImmediate(r));
    expect([...(await kernelEnforcedLimits(s.pid, checked))]).toEqual(["maxOpenFiles"]);
  });

  it.skipIf(!cgroupsFor("cpu", "memory", "pids"))("runs the child inside its own cgroups and removes them on release", async () => {
    const p = await plan("cg", { memoryBytes: 64 * MB, cpuCores: 0.5, maxProcesses: 50 });
    const t = spawnWrapped(p, "python3", ["-u", "-c", "import sys\nprint('ready')\nsys.stdin.read()"]);
    await t.firstLine;
    await p.afterSpawn(t.pid);
    const lines = readFileSync(`/proc/${t.pid}/cgroup`, "utf8").split("\n");
    const dirs: string[] = [];
    for (const controller of ["memory", "cpu", "pids"] as const) {
      const support = host.controllers[controller];
      const line = lines.find((l) => (support.version === "v2" ? l.startsWith("0::") : l.split(":")[1]!.split(",").includes(controller)));
      expect(line).toMatch(/\/hsu-[0-9a-f]{16}\/cg$/);
      dirs.push(`${support.parentDir}/${line!.split("/").slice(-2).join("/")}`);
    }
    if (host.controllers.memory.version === "v1") {
      expect(readFileSync(`${dirs[0]}/memory.limit_in_bytes`, "utf8").trim()).toBe(String(64 * MB));
      expect(readFileSync(`${dirs[1]}/cpu.cfs_quota_us`, "utf8").trim()).toBe("50000");
      expect(readFileSync(`${dirs[2]}/pids.max`, "utf8").trim()).toBe("50");
    }
    // The monitor leaves these to the kernel for this process, not for one outside the cgroups.
    const limits = validateResourceLimits({ memoryBytes: 64 * MB, cpuCores: 0.5, maxProcesses: 50, maxOpenFiles: 100 }, { unit: "cg", field: "limits" });
    expect([...(await kernelEnforcedLimits(t.pid, limits))].sort()).toEqual(["cpuCores", "maxProcesses", "memoryBytes"]);
    expect([...(await kernelEnforcedLimits(process.pid, limits))]).toEqual([]);
    // Releasing while the unit still runs kills what is left inside.
    await p.release();
    expect(await t.exited).toEqual({ code: null, signal: "SIGKILL" });
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });

  it.skipIf(!cgroupsFor("memory"))("moves a process spawned without the wrapper into its cgroup in afterSpawn", async () => {
    const p = await plan("late", { memoryBytes: 64 * MB });
    const t = spawnTestChild("sleep", ["300"]);
    const memoryLine = () => readFileSync(`/proc/${t.pid}/cgroup`, "utf8").split("\n").find((l) => /(^0::|:memory:)/.test(l) && l !== "0::/");
    expect(memoryLine()).not.toMatch(/\/late$/);
    await p.afterSpawn(t.pid);
    expect(memoryLine()).toMatch(/\/hsu-[0-9a-f]{16}\/late$/);
    await p.release();
    expect(await t.exited).toEqual({ code: null, signal: "SIGKILL" });
    await p.release();
  });

  it.skipIf(!cgroupsFor("memory") || process.getuid!() !== 0)("lets a unit running as another user join its cgroup", async () => {
    const p = await createLimitPlanner({ onWarning: () => undefined, ownerOf: () => ({ uid: 65534, gid: 65534 }) })("nobody", { memoryBytes: 64 * MB });
    plans.push(p);
    const wrapped = p.wrap("cat", ["/proc/self/cgroup"]);
    // setpriv first, so the join wrapper already runs as the unit's user.
    const t = spawnTestChild("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", wrapped.command, ...wrapped.args]);
    expect(await t.exited).toEqual({ code: 0, signal: null });
    expect(t.stdout()).toMatch(/\/hsu-[0-9a-f]{16}\/nobody$/m);
  });

  it.skipIf(!cgroupsFor("memory"))("lets the kernel OOM-kill a child that allocates past memoryBytes", async () => {
    const p = await plan("oom", { memoryBytes: 64 * MB, memorySwapBytes: 0 });
    const t = spawnWrapped(p, "python3", ["-c", "b = bytearray(b'x') * (300 * 1024 * 1024)\nprint('survived')"]);
    expect(await t.exited).toEqual({ code: null, signal: "SIGKILL" });
    expect(t.stdout()).toBe("");
  });

  it.skipIf(!cgroupsFor("pids"))("refuses forks past maxProcesses", async () => {
    const p = await plan("forky", { maxProcesses: 4 });
    const t = spawnWrapped(p, "sh", ["-c", "for i in 1 2 3 4 5 6 7 8; do sleep 300 & done; echo all started"]);
    // The shell is one of the 4; its fifth fork fails and sh gives up.
    const exit = await t.exited;
    expect(exit.code).not.toBe(0);
    expect(t.stderr()).toMatch(/cannot fork|resource temporarily unavailable/i);
    expect(t.stdout()).toBe("");
  });

  it.skipIf(!cgroupsFor("cpu"))("holds a spinning child to its cpuCores quota", async () => {
    const p = await plan("spin", { cpuCores: 0.2 });
    const t = spawnWrapped(p, process.execPath, ["-e", "console.log('ready'); for (;;) {}"]);
    await t.firstLine;
    const sampler = createResourceSampler(t.pid);
    await sampler.sample();
    await new Promise((r) => setTimeout(r, 1000));
    expect((await sampler.sample()).cpuPercent).toBeLessThan(45);
  });

  it("warns once per process about a limit this host cannot enforce", async () => {
    const warnings: string[] = [];
    const unit = `io-${process.pid}`;
    const first = await plan(unit, { ioWriteBps: 1048576 }, warnings);
    const second = await plan(unit, { ioWriteBps: 1048576 }, warnings);
    if (host.limits.ioWriteBps.enforcement !== "none") {
      expect(first.warnings).toEqual([]);
      return;
    }
    expect(first.warnings).toHaveLength(1);
    expect(first.warnings[0]).toMatch(new RegExp(`^unit "${unit}": ioWriteBps cannot be enforced: .*io controller.*; not enforced$`));
    expect(second.warnings).toEqual(first.warnings);
    expect(warnings).toEqual(first.warnings);
  });
});

describe("limit planner on a host without cgroups or prlimit", () => {
  const bare: HostCapabilities = {
    uid: 0,
    cgroupSummary: "no cgroup filesystem mounted",
    controllers: {
      cpu: { files: [], reason: "no cgroup filesystem mounted" },
      memory: { files: [], reason: "no cgroup filesystem mounted" },
      pids: { files: [], reason: "no cgroup filesystem mounted" },
      io: { files: [], reason: "no cgroup filesystem mounted" },
    },
    containment: { reason: "no cgroup filesystem mounted" },
    nprocRlimitEffective: false,
    limits: {
      cpuCores: { enforcement: "monitor", detail: "no cgroup filesystem mounted" },
      cpuWeight: { enforcement: "none", detail: "no cgroup filesystem mounted" },
      memoryBytes: { enforcement: "monitor", detail: "no cgroup filesystem mounted" },
      memorySwapBytes: { enforcement: "none", detail: "no cgroup filesystem mounted" },
      maxProcesses: { enforcement: "monitor", detail: "no pids cgroup; RLIMIT_NPROC does not apply to root" },
      maxOpenFiles: { enforcement: "monitor", detail: "util-linux prlimit not found" },
      maxAddressSpaceBytes: { enforcement: "none", detail: "util-linux prlimit not found" },
      ioWeight: { enforcement: "none", detail: "no cgroup filesystem mounted" },
      ioReadBps: { enforcement: "none", detail: "no cgroup filesystem mounted" },
      ioWriteBps: { enforcement: "none", detail: "no cgroup filesystem mounted" },
    },
  };

  it("leaves the command alone and says what is only monitored", async () => {
    const p = await createLimitPlanner({ host: bare, onWarning: () => undefined })("bare", { memoryBytes: 64 * MB, maxProcesses: 5, policy: "kill" });
    expect(p.wrap("/bin/app", ["--x", "a b"])).toEqual({ command: "/bin/app", args: ["--x", "a b"] });
    expect(p.warnings).toEqual([
      'unit "bare": memoryBytes cannot be enforced by the kernel: no cgroup filesystem mounted; watched by the resource monitor instead (policy "kill")',
      'unit "bare": maxProcesses cannot be enforced by the kernel: no pids cgroup; RLIMIT_NPROC does not apply to root; watched by the resource monitor instead (policy "kill")',
    ]);
    await p.afterSpawn(process.pid);
    await p.release();
  });

  it("leaves a unit without limits alone and says once per unit that its escapes cannot be caught", async () => {
    const planner = createLimitPlanner({ host: bare });
    const first = await planner("free", undefined);
    expect(first.wrap("/bin/app", [])).toEqual({ command: "/bin/app", args: [] });
    expect(first.warnings).toEqual([]);
    expect(first.escapeWarning).toBe(
      "processes that leave the unit's process group (setsid, a double fork) can outlive its stop: no cgroup contains them (no cgroup filesystem mounted)",
    );
    await first.release();
    expect((await planner("free", undefined)).escapeWarning).toBeUndefined();
    expect((await planner("other", undefined)).escapeWarning).toMatch(/can outlive its stop/);
  });

  it("rejects invalid limits naming the unit", async () => {
    await expect(createLimitPlanner({ host: bare })("bad", { memoryBytes: -5 })).rejects.toMatchObject({
      code: "invalid_config",
      where: { unit: "bad", field: "limits.memoryBytes" },
    });
  });
});

describe("RLIMIT_NPROC", () => {
  const setpriv = existsSync("/usr/bin/setpriv");
  it.skipIf(!host.prlimitPath || !setpriv || process.getuid!() !== 0)("limits a non-root user but not root, as the host report says", async () => {
    // Without a pids cgroup only the rlimit is left, which is what this shows.
    const controllers = { ...host.controllers, pids: { files: [], reason: "no pids cgroup (test)" } };
    const noPids = { ...host, controllers, limits: planEnforcement(controllers, host.prlimitPath, host.nprocRlimitEffective) };
    const p = await createLimitPlanner({ host: noPids, onWarning: () => undefined })("nproc", { maxProcesses: 3 });
    plans.push(p);
    const script = ["sh", "-c", "for i in 1 2 3 4 5; do sleep 300 & done; echo all started"];
    const asNobody = p.wrap("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", ...script]);
    const nobody = spawnTestChild(asNobody.command, asNobody.args);
    expect((await nobody.exited).code).not.toBe(0);
    expect(nobody.stderr()).toMatch(/cannot fork/i);
    const asRoot = p.wrap(script[0]!, script.slice(1));
    const root = spawnTestChild(asRoot.command, asRoot.args);
    expect(await root.firstLine).toBe("all started");
    expect(host.nprocRlimitEffective).toBe(false);
    expect(p.warnings.join("\n")).toMatch(/maxProcesses cannot be enforced by the kernel: .*RLIMIT_NPROC does not apply to root/);
  });
});
