import { afterEach, describe, expect, it } from "vitest";
import { createResourceSampler, createResourceSamplerGroup } from "./sampler.ts";
import { createFakeClock } from "../clock.ts";
import { killAllTestChildren, spawnPython, spawnTestChild } from "./test-support/children.ts";

afterEach(killAllTestChildren);

const MB = 1024 * 1024;

describe("resource sampler", () => {
  it("counts the resident memory of a child that allocates 100 MB", async () => {
    const t = spawnPython("import sys\nb = bytearray(b'x') * (100 * 1024 * 1024)\nprint('ready')\nsys.stdin.read()");
    await t.firstLine;
    const usage = await createResourceSampler(t.pid).sample();
    expect(usage.alive).toBe(true);
    expect(usage.rssBytes).toBeGreaterThanOrEqual(100 * MB);
    expect(usage.pids).toEqual([t.pid]);
  });

  it("accounts the CPU time a child burns between two samples", async () => {
    // The child burns a fixed amount of CPU on request, so the check holds however busy the machine is.
    const burn = "const rl = require('readline').createInterface({ input: process.stdin });" +
      "console.log('ready'); rl.on('line', () => { const t = process.cpuUsage(); " +
      "for (;;) { const u = process.cpuUsage(t); if (u.user + u.system >= 500000) break; } console.log('done'); });";
    const t = spawnTestChild(process.execPath, ["-e", burn]);
    await t.firstLine;
    const sampler = createResourceSampler(t.pid);
    const before = await sampler.sample();
    const done = new Promise<void>((resolve) => t.child.stdout!.on("data", (d: Buffer) => d.toString().includes("done") && resolve()));
    t.child.stdin!.write("go\n");
    await done;
    const after = await sampler.sample();
    const cpuSeconds = (after.cpuPercent / 100) * ((after.at - before.at) / 1000);
    // 0.5 s burnt, less a few clock ticks (utime and stime are each rounded); idle time around it adds a little.
    expect(cpuSeconds).toBeGreaterThanOrEqual(0.47);
    expect(cpuSeconds).toBeLessThan(1.5);
  });

  it("reports an idle child's CPU near zero", async () => {
    const t = spawnPython("import sys\nprint('ready')\nsys.stdin.read()");
    await t.firstLine;
    const sampler = createResourceSampler(t.pid);
    await sampler.sample();
    await new Promise((r) => setTimeout(r, 300));
    expect((await sampler.sample()).cpuPercent).toBeLessThan(20);
  });

  it("counts threads, open files and grandchildren of the whole tree", async () => {
    const code = [
      "import os, sys, threading, subprocess",
      "ev = threading.Event()",
      "threads = [threading.Thread(target=ev.wait, daemon=True) for _ in range(5)]",
      "[t.start() for t in threads]",
      "fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(7)]",
      "kids = [subprocess.Popen(['sleep', '300']) for _ in range(3)]",
      "print(' '.join(str(k.pid) for k in kids))",
      "sys.stdin.read()",
    ].join("\n");
    const t = spawnPython(code);
    const kids = (await t.firstLine).split(" ").map(Number);
    const usage = await createResourceSampler(t.pid).sample();
    expect(usage.pids[0]).toBe(t.pid);
    expect([...usage.pids].sort()).toEqual([t.pid, ...kids].sort());
    const root = usage.processes[0]!;
    expect(root.threads).toBe(6);
    // stdin, stdout, stderr and the 7 files; Python may hold a few more of its own.
    expect(root.openFds).toBeGreaterThanOrEqual(10);
    expect(usage.threads).toBe(6 + 3);
    expect(usage.processes.filter((p) => p.name === "sleep")).toHaveLength(3);
  });

  it("reports a vanished process as not alive instead of failing", async () => {
    const t = spawnTestChild("sleep", ["300"]);
    const group = createResourceSamplerGroup();
    expect((await group.sampleMany([t.pid])).get(t.pid)?.alive).toBe(true);
    process.kill(t.pid, "SIGKILL");
    await t.exited;
    const usage = (await group.sampleMany([t.pid])).get(t.pid)!;
    expect(usage).toMatchObject({ alive: false, rssBytes: 0, pids: [] });
  });

  it("samples many trees from one scan", async () => {
    const a = spawnTestChild("sleep", ["300"]);
    const b = spawnTestChild("sleep", ["300"]);
    const usages = await createResourceSamplerGroup().sampleMany([a.pid, b.pid, a.pid]);
    expect([...usages.keys()].sort()).toEqual([a.pid, b.pid].sort());
    expect(usages.get(b.pid)?.processes[0]?.name).toBe("sleep");
  });

  it("shares one scan of /proc between trees sampled within maxScanAgeMs", async () => {
    const a = spawnTestChild("sleep", ["300"]);
    const b = spawnTestChild("sleep", ["300"]);
    const clock = createFakeClock();
    const group = createResourceSamplerGroup({ clock, maxScanAgeMs: 1000 });
    const first = (await group.sampleMany([a.pid])).get(a.pid)!;
    clock.advance(999);
    const second = (await group.sampleMany([b.pid])).get(b.pid)!;
    expect(second.at).toBe(first.at);
    expect(second.alive).toBe(true);
    clock.advance(1);
    expect((await group.sampleMany([a.pid])).get(a.pid)!.at).toBe(1000);
  });
});
