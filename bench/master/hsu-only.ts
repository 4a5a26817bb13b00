// The HSU side of the master benchmark alone (start all, kill -9 restarts, stop all), for quick
// before/after comparisons while working on one path; the side-by-side table is run.ts.
//
//   node --conditions=@hsu/source bench/master/hsu-only.ts [--units=N] [--kills=K] [--idle=S] [--profile] [--down] [--ps] [--events] [--settle=MS]
//
// --profile: the daemon's whole-life CPU profile into .cache/bench-master-prof/ (read it with profile-window.ts).
// --idle=S: after the kills, the daemon's CPU (utime+stime) over S seconds, the window opening no sooner than 11 s
// after `hsu up -d` returned: up's ListUnits calls make the master sample usage for 10 s after the last one
// (daemon/usage.ts), which run.ts's window (2 s after the kills) still catches at 100 units.
// --down: also `hsu down` with the units running (CLI start to exit, everything gone).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { cpuMs, pollUntil } from "../supervisor/proc.ts";
import { startHsu } from "./hsu.ts";
import { killTree, median, timeProcess, unitsOf } from "./measure.ts";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const n = Number(arg("units") ?? 100);
const kills = Number(arg("kills") ?? 20);
const idleS = Number(arg("idle") ?? 0);
if (!(idleS >= 0 && idleS <= 600)) throw new Error("--idle= takes seconds from 0 to 600");
const profileDir = process.argv.includes("--profile") ? fileURLToPath(new URL("../../.cache/bench-master-prof/", import.meta.url)) : undefined;
const root = mkdtempSync(join(tmpdir(), "hsu-mbench-only-"));
const say = (m: string) => process.stderr.write(`${m} (load ${loadavg()[0]!.toFixed(2)})\n`);
let daemon = 0;
try {
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const hsu = startHsu(root, n, "dist", profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []);
  daemon = hsu.daemonPid;
  const upAt = performance.now();
  const cpuStart = cpuMs(daemon);
  const t0 = performance.now();
  const all = pollUntil(() => (unitsOf(daemon).length >= n ? true : undefined), 60_000);
  const cmd = hsu.startAll();
  if (!(await all)) throw new Error("not all started");
  const startMs = performance.now() - t0;
  await cmd;
  say(`start all ${n}: ${startMs.toFixed(0)} ms; daemon CPU ${(cpuMs(daemon) - cpuStart).toFixed(0)} ms`);
  await new Promise((r) => setTimeout(r, 500));
  const restart: number[] = [];
  const cpu0 = cpuMs(daemon);
  for (let k = 0; k < kills; k++) {
    const before = new Set(unitsOf(daemon));
    const victim = [...before][k % before.size]!;
    const t = performance.now();
    process.kill(victim, "SIGKILL");
    const fresh = await pollUntil(() => unitsOf(daemon).find((p) => !before.has(p)), 30_000);
    if (fresh === undefined) throw new Error("not restarted");
    restart.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 50));
  }
  // The daemon's own CPU per restart (utime+stime, 10 ms ticks; includes the 50 ms pauses' idle work): less load-sensitive than wall time.
  const cpuPerKill = (cpuMs(daemon) - cpu0) / kills;
  say(`restart after kill -9: median ${median(restart).toFixed(1)} ms (${restart.map((x) => x.toFixed(0)).join(" ")}); daemon CPU ${cpuPerKill.toFixed(1)} ms per restart`);
  await new Promise((r) => setTimeout(r, 1000));
  if (idleS > 0) {
    await new Promise((r) => setTimeout(r, Math.max(1000, 11_000 - (performance.now() - upAt))));
    const c0 = cpuMs(daemon);
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const used = cpuMs(daemon) - c0;
    say(`idle ${idleS} s after the kills: daemon CPU ${used.toFixed(0)} ms = ${((used / (idleS * 1000)) * 100).toFixed(2)} % of a core`);
  }
  // --ps: `hsu ps` right before the stop, as run.ts does (its usage sampling then runs on for 10 s).
  if (process.argv.includes("--ps")) await timeProcess(hsu.status.command, hsu.status.args, hsu.status.cwd, hsu.status.env, 60_000);
  // --settle=MS: wait before the stop (past the on-demand usage sampler's 10 s after `hsu up`'s progress calls).
  await new Promise((r) => setTimeout(r, Number(arg("settle") ?? 0)));
  // --events: when the master reports each unit stopped (StreamEvents), to tell its own stop from the answer's
  // way back. Off by default: serializing the 200 events costs the daemon CPU of its own.
  const events = createClient(ControlService, createUnitTransport(`unix:${join(root, ".hsu", "control.sock")}`, { connectTimeoutMs: 5000 }));
  const watch = new AbortController();
  const stoppedAt: number[] = [];
  const watching = process.argv.includes("--events")
    ? (async () => {
        for await (const e of events.streamEvents({}, { signal: watch.signal })) if (e.event?.toState === "stopped") stoppedAt.push(performance.now());
      })().catch(() => undefined)
    : undefined;
  if (watching) await new Promise((r) => setTimeout(r, 200));
  const cpu1 = cpuMs(daemon);
  const t1 = performance.now();
  const stopping = hsu.stopAll();
  const gone = await pollUntil(() => (unitsOf(daemon).length === 0 ? true : undefined), 60_000);
  const stopMs = performance.now() - t1;
  await stopping;
  const answeredMs = performance.now() - t1;
  if (!gone) throw new Error("not all gone");
  const stopCpu = cpuMs(daemon) - cpu1;
  if (watching) await pollUntil(() => (stoppedAt.length >= n ? true : undefined), 10_000);
  watch.abort();
  await watching;
  const reported = !watching ? "" : stoppedAt.length ? `; first/last unit reported stopped at ${(stoppedAt[0]! - t1).toFixed(0)}/${(stoppedAt.at(-1)! - t1).toFixed(0)} ms (${stoppedAt.length} events)` : "; no stopped event seen";
  say(`stop all ${n}: ${stopMs.toFixed(0)} ms to all gone, ${answeredMs.toFixed(0)} ms to the stop answered${reported}; daemon CPU ${stopCpu.toFixed(0)} ms`);
  if (process.argv.includes("--down")) {
    await hsu.startAll();
    await pollUntil(() => (unitsOf(daemon).length >= n ? true : undefined), 60_000);
    await new Promise((r) => setTimeout(r, 500));
    const down = hsu.cli(["down"]);
    const downMs = await timeProcess(down.command, down.args, root, { ...process.env, NO_COLOR: "1" }, 60_000);
    say(`hsu down with ${n} running: ${downMs.toFixed(0)} ms`);
  } else if (profileDir) {
    const down = hsu.cli(["down"]);
    await timeProcess(down.command, down.args, root, { ...process.env, NO_COLOR: "1" }, 60_000, false);
  }
} finally {
  if (daemon) killTree(daemon);
  rmSync(root, { recursive: true, force: true });
}
