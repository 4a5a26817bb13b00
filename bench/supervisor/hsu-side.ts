// The HSU side: this process is the master. createSupervisor with a log
// collector as its sink (as a master wires it), and a resource sampler group
// over every unit once a second while idle. Prints one SideResult JSON line.
//
//   node --conditions=@hsu/source bench/supervisor/hsu-side.ts <workDir> [--quick]
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  createLogCollector,
  createResourceSamplerGroup,
  createSupervisor,
  type UnitEvent,
} from "@hsu/client";
import { countLines, rssKib } from "./proc.ts";
import { idleUnit, logWriter, scenario, type SideResult } from "./scenario.ts";

const workDir = process.argv[2];
if (!workDir) throw new Error("usage: hsu-side.ts <workDir> [--quick]");
const s = scenario(process.argv.includes("--quick"));
const logDir = join(workDir, "hsu-logs");
mkdirSync(logDir, { recursive: true });

const collector = createLogCollector({ dir: logDir, maxFileBytes: 1024 ** 3, maxFiles: 2 });
const supervisor = createSupervisor({ logSink: collector });
const restart = { policy: "always", delayMs: 0, breaker: { windowMs: 60_000, maxRestarts: 10_000 } };
const ids = Array.from({ length: s.units }, (_, i) => `u${String(i).padStart(3, "0")}`);

/** Resolves with the first event that `match` accepts, or rejects after the scenario timeout. */
function nextEvent(match: (e: UnitEvent) => boolean, what: string): Promise<UnitEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}`));
    }, s.timeoutMs);
    const off = supervisor.onEvent((e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

try {
  progress("starting units");
  // 1. Start every unit; done when each has a running process.
  const t0 = performance.now();
  const running = new Set<string>();
  const allRunning = new Promise<void>((resolve) => {
    const off = supervisor.onEvent((e) => {
      if (e.type === "spawned" && running.add(e.unit).size === ids.length) {
        off();
        resolve();
      }
    });
  });
  await Promise.all(ids.map((id) => supervisor.add({ id, executable: idleUnit.command, args: idleUnit.args, restart })));
  await allRunning;
  const start100Ms = performance.now() - t0;

  progress("killing units one at a time");
  // 2. kill -9 one unit at a time; done when the supervisor reports its new process.
  const restartMs: number[] = [];
  for (let k = 0; k < s.kills; k++) {
    const id = ids[k]!;
    const old = supervisor.get(id).pid!;
    const respawned = nextEvent((e) => e.unit === id && e.type === "spawned" && e.pid !== old, `${id} to restart`);
    const t = performance.now();
    process.kill(old, "SIGKILL");
    await respawned;
    restartMs.push(performance.now() - t);
  }

  progress("idle window");
  // 3. Idle with every unit sampled once a second.
  const sampler = createResourceSamplerGroup();
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  let maxRss = 0;
  let sampled = 0;
  while (performance.now() - w0 < s.idleMs) {
    const usage = await sampler.sampleMany(supervisor.list().map((u) => u.pid!).filter(Boolean));
    sampled += usage.size;
    maxRss = Math.max(maxRss, rssKib(process.pid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const cpu = process.cpuUsage(cpu0);
  const idleCpuPercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - w0)) * 100;
  if (sampled < ids.length) throw new Error(`the sampler saw ${sampled} unit samples, expected at least ${ids.length}`);
  // The same window without the sampler, to tell the supervisor's own idle cost from the sampling's.
  const bare0 = process.cpuUsage();
  const b0 = performance.now();
  await new Promise((r) => setTimeout(r, s.idleMs / 2));
  const bare = process.cpuUsage(bare0);
  const idleCpuUnsampledPercent = ((bare.user + bare.system) / 1000 / (performance.now() - b0)) * 100;
  await Promise.all(ids.map((id) => supervisor.remove(id)));

  progress("log throughput");
  // 4. One unit writing as fast as it can; the exit event comes after its last line reached the sink.
  const writer = logWriter(s.logLines);
  const l0 = performance.now();
  const exited = nextEvent((e) => e.unit === "logger" && e.type === "exit", "the log writer to exit");
  await supervisor.add({ id: "logger", executable: writer.command, args: writer.args, restart: { policy: "never" } });
  await exited;
  await collector.flush();
  const logMs = performance.now() - l0;
  const logCaptured = await countLines(join(logDir, "logger.log"));

  const result: SideResult = {
    side: "HSU",
    version: "@hsu/client (this checkout)",
    start100Ms,
    restartMs,
    idleRssKib: maxRss,
    idleCpuPercent,
    logLines: s.logLines,
    logCaptured,
    logMs,
    notes: [
      "restart: kill -9 until the supervisor's `spawned` event for the new pid",
      "idle: this master process (supervisor + log collector + sampler of every unit once a second); RSS is the maximum over the window",
      `idle CPU without the sampler (a further ${s.idleMs / 2000} s window): ${idleCpuUnsampledPercent.toFixed(2)} % of one core`,
      "log lines are counted in the collector's file (each line gets a timestamp and stream prefix)",
    ],
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await supervisor.shutdown().catch((e: unknown) => process.stderr.write(`shutdown: ${(e as Error).message}\n`));
  await collector.close();
}

function progress(step: string): void {
  process.stderr.write(`  hsu: ${step}\n`);
}
