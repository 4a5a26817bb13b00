import { createInterface } from "node:readline";
import { afterEach, expect, it } from "vitest";
import { describeHostCapabilities } from "./host.ts";
import { createLimitPlanner, type LimitPlan } from "./planner.ts";
import { CLOCK_TICKS_PER_SECOND } from "./proc.ts";
import { createResourceSampler } from "./sampler.ts";
import { killAllTestChildren, spawnTestChild } from "./test-support/children.ts";

let plan: LimitPlan | undefined;
afterEach(async () => {
  await killAllTestChildren();
  await plan?.release();
});

// The spinner burns CPU in 5 ms slices and, between slices, answers each stdin
// line with its own CPU time (getrusage, a different kernel path from the
// /proc/<pid>/stat ticks the sampler reads).
const SPINNER = `
const lines = [];
process.stdin.setEncoding("utf8").on("data", (d) => lines.push(d));
console.log("ready");
(function spin() {
  const end = Date.now() + 5;
  while (Date.now() < end) {}
  while (lines.length > 0) {
    lines.shift();
    const u = process.cpuUsage();
    console.log(String((u.user + u.system) / 1e6));
  }
  setImmediate(spin);
})();
`;

// The sampler's figure is checked against the child's own count of its CPU
// time, not against a share of a core: on a machine busy with other tests a
// spinner may get less than half a core, and the measurement must still be right.
it("measures a spinning child's CPU as the child itself counts it", async () => {
  const host = await describeHostCapabilities();
  let argv = { command: process.execPath, args: ["-e", SPINNER] };
  if (host.limits.cpuWeight.enforcement.startsWith("cgroup")) {
    plan = await createLimitPlanner({ onWarning: () => undefined })("spinner", { cpuWeight: 10000 });
    argv = plan.wrap(process.execPath, ["-e", SPINNER]);
  }
  const t = spawnTestChild(argv.command, argv.args);
  await t.firstLine;
  const replies = createInterface({ input: t.child.stdout! })[Symbol.asyncIterator]();
  const ownCpu = async (): Promise<number> => {
    t.child.stdin!.write("cpu?\n");
    const next = await replies.next();
    if (next.done) throw new Error(`the spinner closed its stdout; stderr: ${t.stderr()}`);
    return Number(next.value);
  };

  const sampler = createResourceSampler(t.pid);
  const before0 = performance.now();
  const c0 = await ownCpu();
  const s0 = await sampler.sample();
  const gap0 = (performance.now() - before0) / 1000;

  // The window ends once the child has spent half a second of CPU, however
  // long that takes on this machine (at most 20 s).
  const deadline = Date.now() + 20_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    if ((await ownCpu()) - c0 >= 0.5) break;
    if (Date.now() > deadline) throw new Error("the spinner did not get half a second of CPU within 20 s");
  }

  const before1 = performance.now();
  const s1 = await sampler.sample();
  const c1 = await ownCpu();
  const gap1 = (performance.now() - before1) / 1000;

  const measured = (s1.cpuPercent / 100) * ((s1.at - s0.at) / 1000);
  const counted = c1 - c0;
  const tick = 1 / CLOCK_TICKS_PER_SECOND;
  // The child's count covers the sampler's window plus the two gaps around it.
  expect(measured).toBeLessThanOrEqual(counted + 2 * tick);
  expect(measured).toBeGreaterThanOrEqual(counted - gap0 - gap1 - 2 * tick);
});
