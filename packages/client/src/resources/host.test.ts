import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupSettings } from "./cgroup.ts";
import { createCgroupHome } from "./cgroup-home.ts";
import { describeHostCapabilities, detectHostCapabilities } from "./host.ts";
import { validateResourceLimits } from "./limits.ts";

const scratch = mkdtempSync(join(tmpdir(), "hsu-host-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("host capabilities", () => {
  it("detects once and agrees with /proc/self/cgroup", async () => {
    const host = await describeHostCapabilities();
    expect(await describeHostCapabilities()).toBe(host);
    const own = readFileSync("/proc/self/cgroup", "utf8");
    for (const [name, support] of Object.entries(host.controllers)) {
      if (support.version === "v1") {
        const line = own.split("\n").find((l) => l.split(":")[1]?.split(",").includes(name))!;
        expect(support.parentDir!.endsWith(line.split(":")[2]!.replace(/\/$/, ""))).toBe(true);
        expect(existsSync(join(support.parentDir!, "cgroup.procs"))).toBe(true);
      } else if (support.version === undefined) {
        expect(support.reason).not.toBe("");
      }
    }
    const memory = host.controllers.memory.version;
    expect(host.limits.memoryBytes.enforcement).toBe(memory ? `cgroup-${memory}` : "monitor");
    expect(host.nprocRlimitEffective).toBe(process.getuid!() !== 0);
  });

  it("reads a cgroup v2 layout from mountinfo and our own cgroup", async () => {
    const proc = join(scratch, "proc");
    const cg = join(scratch, "cg");
    mkdirSync(join(proc, "self"), { recursive: true });
    mkdirSync(join(cg, "master.service"), { recursive: true });
    writeFileSync(join(proc, "self/mountinfo"), `30 23 0:26 / ${cg} rw,nosuid - cgroup2 cgroup2 rw\n`);
    writeFileSync(join(proc, "self/cgroup"), "0::/master.service\n");
    writeFileSync(join(cg, "master.service/cgroup.controllers"), "cpu io memory pids\n");
    writeFileSync(join(cg, "master.service/cgroup.subtree_control"), "cpu memory\n");
    const host = await detectHostCapabilities({ procRoot: proc, searchPath: [] });
    expect(host.cgroupSummary).toBe(`cgroup v2 at ${cg}`);
    expect(host.controllers.memory).toMatchObject({ version: "v2", parentDir: join(cg, "master.service") });
    expect(host.controllers.pids.version).toBe("v2");
    expect(host.prlimitPath).toBeUndefined();
    expect(host.limits.maxOpenFiles).toEqual({ enforcement: "monitor", detail: "util-linux prlimit not found" });
    // A plain directory has no cgroup.kill or cgroup.freeze: pids are killed one by one.
    expect(host.containment).toMatchObject({ version: "v2", parentDir: join(cg, "master.service"), kill: "signal" });
  });

  it("finds no containment where no cgroup filesystem is mounted", async () => {
    const empty = join(scratch, "empty-proc");
    mkdirSync(empty);
    const host = await detectHostCapabilities({ procRoot: empty, searchPath: [] });
    expect(host.containment).toEqual({ reason: "no cgroup hierarchy to create unit cgroups in (found no cgroup filesystem mounted)" });
  });

  it("contains units in this host's cgroup v2 hierarchy (hybrid or unified) when it is writable, else in a v1 one", async () => {
    const host = await describeHostCapabilities();
    const own = readFileSync("/proc/self/cgroup", "utf8");
    if (host.containment.version === "v2") {
      const ownV2 = /^0::(.*)$/m.exec(own)![1]!.replace(/\/$/, "");
      expect(host.containment.parentDir!.endsWith(ownV2)).toBe(true);
      expect(existsSync(join(host.containment.parentDir!, "cgroup.procs"))).toBe(true);
      expect(host.containment.kill).toMatch(/^(cgroup\.kill|freeze|signal)$/);
    } else if (host.containment.version === "v1") {
      expect(existsSync(join(host.containment.parentDir!, "cgroup.procs"))).toBe(true);
    } else {
      expect(host.containment.reason).not.toBe("");
    }
  });
});

describe("cgroup v2 settings", () => {
  it("writes cpu.max, cpu.weight, memory.max, memory.swap.max, pids.max, io.weight and io.max", async () => {
    const parent = join(scratch, "v2parent");
    mkdirSync(parent);
    const files = ["cpu.max", "cpu.weight", "memory.max", "memory.swap.max", "pids.max", "io.weight", "io.max"];
    const v2 = { version: "v2" as const, parentDir: parent, files, reason: "test" };
    const host = await describeHostCapabilities();
    const fake = { ...host, controllers: { cpu: v2, memory: v2, pids: v2, io: v2 }, containment: { version: "v2" as const, parentDir: parent, kill: "signal" as const, reason: "test" } };
    const limits = validateResourceLimits(
      { cpuCores: 1.5, cpuWeight: 200, memoryBytes: 128 * 1024 * 1024, memorySwapBytes: 0, maxProcesses: 64, ioWeight: 50, ioWriteBps: { "8:0": 1000 }, ioReadBps: { "8:0": 2000 } },
      { unit: "v2", field: "limits" },
    );
    const settings = await cgroupSettings(limits, fake);
    const cgroups = await createCgroupHome({ owner: "test", host: fake }).create("my unit", settings);
    expect(cgroups.uncontained).toBeUndefined();
    expect(cgroups.dirs).toHaveLength(1);
    const dir = cgroups.dirs[0]!;
    expect(dir).toMatch(/\/hsu-test\/my_unit-[0-9a-f]{8}$/);
    expect(readFileSync(join(parent, "hsu-test", "cgroup.subtree_control"), "utf8")).toMatch(/^\+(cpu|memory|pids|io)$/);
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    expect([read("cpu.max"), read("cpu.weight"), read("memory.max"), read("memory.swap.max"), read("pids.max")]).toEqual([
      "150000 100000", "200", String(128 * 1024 * 1024), "0", "64",
    ]);
    expect(read("io.weight")).toBe("default 50");
    expect(read("io.max")).toBe("8:0 rbps=2000 wbps=1000");
  });
});
