import { afterEach, expect, it } from "vitest";
import { describeHostCapabilities } from "./host.ts";
import { createLimitPlanner, type LimitPlan } from "./planner.ts";
import { createResourceSampler } from "./sampler.ts";
import { killAllTestChildren, spawnTestChild } from "./test-support/children.ts";

let plan: LimitPlan | undefined;
afterEach(async () => {
  await killAllTestChildren();
  await plan?.release();
});

// A measurement of a real spinning process. It lives in the slow project (no
// parallel test files), and where a cpu cgroup is available the spinner gets
// the highest CPU weight, because a machine busy with other work would
// otherwise starve it below half a core.
it("measures more than half a core for a spinning child over a one second window", async () => {
  const spin = ["-e", "console.log('ready'); for (;;) {}"];
  const host = await describeHostCapabilities();
  let argv = { command: process.execPath, args: spin };
  if (host.limits.cpuWeight.enforcement.startsWith("cgroup")) {
    plan = await createLimitPlanner({ onWarning: () => undefined })("spinner", { cpuWeight: 10000 });
    argv = plan.wrap(process.execPath, spin);
  }
  const t = spawnTestChild(argv.command, argv.args);
  await t.firstLine;
  const sampler = createResourceSampler(t.pid);
  await sampler.sample();
  await new Promise((r) => setTimeout(r, 1000));
  expect((await sampler.sample()).cpuPercent).toBeGreaterThan(50);
});
