import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFakeClock, createResourceSamplerGroup, type FakeClock, type ResourceSamplerGroup } from "@hsu/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDeployment } from "../config/index.ts";
import { createMaster, type Master } from "./master.ts";
import { createUsageOnDemand } from "./usage.ts";

/** A real sampler group over the real /proc that records the pids of every pass it is asked for. */
function countingSamplers(clock: FakeClock): { samplers: ResourceSamplerGroup; passes: number[][]; settled: () => Promise<void> } {
  const real = createResourceSamplerGroup({ clock });
  const passes: number[][] = [];
  let last: Promise<unknown> = Promise.resolve();
  return {
    passes,
    samplers: {
      sampleMany: (pids) => {
        passes.push([...pids]);
        const p = real.sampleMany(pids);
        last = p;
        return p;
      },
      forget: (pid) => real.forget(pid),
    },
    // The last pass's /proc reads are done, and so is what the sampler does with them.
    settled: async () => {
      await last;
      await new Promise((r) => setImmediate(r));
    },
  };
}

describe("createUsageOnDemand", () => {
  const setup = (pids = [process.pid]) => {
    const clock = createFakeClock(1_000_000);
    const { samplers, passes, settled } = countingSamplers(clock);
    const logged: string[] = [];
    const usage = createUsageOnDemand({ clock, samplers, pids: () => pids, log: (l) => logged.push(l) });
    return { clock, passes, usage, logged, settled };
  };

  it("reads nothing and schedules nothing while nobody asks", () => {
    const { clock, passes } = setup();
    clock.advance(10 * 60_000);
    expect(passes).toEqual([]);
    expect(clock.pending()).toBe(0);
  });

  it("samples at once when asked, every unit in one pass", async () => {
    const { passes, usage } = setup([process.pid, process.ppid]);
    expect(usage.of(process.pid)).toBeUndefined();
    await usage.want();
    expect(passes).toEqual([[process.pid, process.ppid]]);
    expect(usage.of(process.pid)!.rssBytes).toBeGreaterThan(0);
    expect(usage.of(process.ppid)!.rssBytes).toBeGreaterThan(0);
  });

  it("answers requests within a second from the same pass", async () => {
    const { clock, passes, usage } = setup();
    await Promise.all([usage.want(), usage.want()]);
    clock.advance(500);
    await usage.want();
    expect(passes).toHaveLength(1);
  });

  it("keeps sampling once a second while asked, and stops 10 s after the last request", async () => {
    const { clock, passes, usage, settled } = setup();
    await usage.want();
    for (let s = 0; s < 5; s++) {
      clock.advance(1000);
      await usage.want();
    }
    expect(passes).toHaveLength(6);
    // The last request was at 5 s: passes go on at 6..14 s, then nothing.
    for (let s = 0; s < 30; s++) {
      clock.advance(1000);
      await settled();
    }
    expect(passes).toHaveLength(15);
    expect(clock.pending()).toBe(0);
    // Asked again after the pause: a stale sample is refreshed before the answer.
    await usage.want();
    expect(passes).toHaveLength(16);
  });

  it("leaves out a process that is gone, and says nothing of it", async () => {
    const { usage, logged } = setup([2 ** 22 + 12345]);
    await usage.want();
    expect(usage.of(2 ** 22 + 12345)).toBeUndefined();
    expect(logged).toEqual([]);
  });

  it("a failed pass is reported and the next request tries again", async () => {
    const clock = createFakeClock();
    const logged: string[] = [];
    let calls = 0;
    const usage = createUsageOnDemand({
      clock,
      samplers: { sampleMany: () => (calls++, Promise.reject(new Error("no /proc"))), forget: () => {} },
      pids: () => [1],
      log: (l) => logged.push(l),
    });
    await usage.want();
    clock.advance(1000);
    await usage.want();
    expect(logged[0]).toContain("no /proc");
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it("does nothing once closed", async () => {
    const { clock, passes, usage } = setup();
    await usage.want();
    usage.close();
    clock.advance(60_000);
    await usage.want();
    expect(passes).toHaveLength(1);
    expect(clock.pending()).toBe(0);
  });
});

describe("the master's resource figures", () => {
  let master: Master;
  const clock = createFakeClock(1_000_000);
  const { samplers, passes } = countingSamplers(clock);

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-usage-"));
    const spec = `units:\n  a:\n    command: sleep\n    args: ["600"]\n  b:\n    command: sleep\n    args: ["600"]\n`;
    master = await createMaster({ deployment: parseDeployment(spec, "hsu.yaml", dir), log: () => {}, clock, samplers });
    await master.up();
  });
  afterAll(() => master.shutdown());

  it("an idle master reads no resources when nobody asks", () => {
    clock.advance(5 * 60_000);
    expect(passes).toEqual([]);
    expect(master.list().map((v) => v.cpuPercent)).toEqual([undefined, undefined]);
  });

  it("asked, it samples every unit in one pass and shows CPU and RSS", async () => {
    await master.sampleUsage();
    const pids = master.list().map((v) => v.pid!);
    expect(passes).toHaveLength(1);
    expect([...passes[0]!].sort()).toEqual([...pids].sort());
    for (const v of master.list()) {
      expect(v.cpuPercent).toBeGreaterThanOrEqual(0);
      expect(v.rssBytes).toBeGreaterThan(0);
    }
  });
});
