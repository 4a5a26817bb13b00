// Master benchmark: the real `hsu` daemon side by side with PM2 and supervisord in one
// run, on the same N `sleep` units, with Node's own floors measured in the same run.
// Prints issue 10's table (each figure as ratios against PM2, supervisord and the floor).
//
//   node --conditions=@hsu/source bench/master/run.ts [--quick] [--units=N] [--hsu=dist|source|bundle|sea] [--profile]
//
// --profile runs the hsu daemon with --cpu-prof (its whole life, written when `hsu down` ends it)
// into .cache/bench-master-prof/; read it with bench/rpc/profile-summary.ts. It slows the daemon:
// its figures are for attribution, not for the table.
//
// Every daemon and unit is SIGKILLed (with its process group) at the end, also on a failure
// or Ctrl-C; the temp dir is removed.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pollUntil, rssKib } from "../supervisor/proc.ts";
import { ensurePm2, hasSupervisord } from "../supervisor/setup.ts";
import { measureFloors, type Floors } from "./floors.ts";
import { summariseHeap, type HeapSummary } from "./heap-summary.ts";
import { hsuBuilds, startHsu, type HsuBuild } from "./hsu.ts";
import { killTree, measure, median, sizes, sweepUnits, timeProcess, unitsOf, type Figures, type Side } from "./measure.ts";
import { startPm2 } from "./pm2.ts";
import { startSupervisord } from "./supervisord.ts";

const quick = process.argv.includes("--quick");
const unitsFlag = process.argv.find((a) => a.startsWith("--units="));
const build = (process.argv.find((a) => a.startsWith("--hsu="))?.slice(6) ?? "dist") as HsuBuild;
if (!hsuBuilds.includes(build)) throw new Error(`--hsu= takes ${hsuBuilds.join(", ")}`);
const profileDir = process.argv.includes("--profile") ? fileURLToPath(new URL("../../.cache/bench-master-prof/", import.meta.url)) : undefined;
const s = sizes(quick, unitsFlag ? Number(unitsFlag.slice(8)) : undefined);
if (!Number.isInteger(s.units) || s.units < 1 || s.units > 5000) throw new Error("--units= takes a whole number from 1 to 5000");

const root = mkdtempSync(join(tmpdir(), "hsu-mbench-"));
const daemons = new Set<number>();
const closers: (() => Promise<unknown> | void)[] = [];
let cleaned = false;
async function cleanup(): Promise<number> {
  if (cleaned) return 0;
  cleaned = true;
  for (const close of closers.reverse()) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.resolve().then(close).catch(() => {}), new Promise((r) => (timer = setTimeout(r, 15_000)))]);
    clearTimeout(timer);
  }
  for (const pid of daemons) killTree(pid);
  const left = sweepUnits();
  rmSync(root, { recursive: true, force: true });
  return left;
}
const abort = (why: string) => {
  process.stderr.write(`\n${why}: killing every daemon and unit\n`);
  void cleanup().finally(() => process.exit(130));
};
process.once("SIGINT", () => abort("interrupted"));
process.once("SIGTERM", () => abort("terminated"));
// The whole run's budget: 25 min at 100 units, scaled with N.
const budget = setTimeout(() => abort("over the run's time budget"), Math.max(25 * 60_000, s.units * 3_000));
budget.unref();

const say = (who: string) => (step: string) => process.stderr.write(`  ${who}: ${step}  (load ${loadavg()[0]!.toFixed(2)})\n`);
const loads: string[] = [`before ${loadavg().map((l) => l.toFixed(2)).join(" ")}`];

interface Result {
  side: Side;
  figures: Figures;
  load: number;
}
const results: Result[] = [];
let floors: Floors | undefined;
let hsuExtra: { upMs: number; downMs: number; memory?: Record<string, unknown>; proc?: Record<string, number>; heap?: HeapSummary } | undefined;

try {
  process.stderr.write(`master benchmark: ${s.units} units, idle window ${s.idleMs / 1000} s, hsu from ${build}; temp dir ${root}\n`);
  const pm2Dir = ensurePm2();
  const withSupervisord = hasSupervisord();

  say("floors")("bare Node RSS, `node -e ''`, a spawn loop");
  floors = await measureFloors(s, root);

  // HSU: the daemon through `hsu up -d`.
  {
    const dir = join(root, "hsu");
    mkdirSync(dir);
    say("hsu")("hsu up -d");
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    const hsu = startHsu(dir, s.units, build, profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []);
    daemons.add(hsu.daemonPid);
    closers.push(() => hsu.close());
    const load = loadavg()[0]!;
    const figures = await measure(hsu, s, say("hsu"));
    results.push({ side: hsu, figures, load });

    say("hsu")("memory: process.memoryUsage() and /proc of the daemon, then a heap snapshot (units running)");
    await hsu.startAll();
    await pollUntil(() => (unitsOf(hsu.daemonPid).length >= s.units ? true : undefined), s.timeoutMs, 10);
    await new Promise((r) => setTimeout(r, 2000));
    const proc = procMemory(hsu.daemonPid);
    process.kill(hsu.daemonPid, "SIGUSR2");
    const memJson = await pollUntil(() => (existsSync(`${hsu.probeBase}.json`) ? `${hsu.probeBase}.json` : undefined), 10_000, 20);
    const memory = memJson ? (JSON.parse(readFileSync(memJson, "utf8")) as Record<string, unknown>) : undefined;
    process.kill(hsu.daemonPid, "SIGWINCH");
    const snap = await pollUntil(() => (existsSync(`${hsu.probeBase}.heapsnapshot`) ? `${hsu.probeBase}.heapsnapshot` : undefined), 120_000, 100);
    const heap = snap ? summariseHeap(snap) : undefined;
    if (snap) rmSync(snap);

    say("hsu")(`hsu down with ${s.units} units running`);
    const down = hsu.cli(["down"]);
    const downMs = await timeProcess(down.command, down.args, dir, { ...process.env, NO_COLOR: "1" }, s.timeoutMs);
    if (unitsOf(hsu.daemonPid).length || rssKib(hsu.daemonPid) > 0) throw new Error("`hsu down` returned but the daemon or a unit is still there");
    hsuExtra = { upMs: hsu.upMs, downMs, ...(memory ? { memory } : {}), proc, ...(heap ? { heap } : {}) };
    killTree(hsu.daemonPid);
  }
  loads.push(`after HSU ${loadavg()[0]!.toFixed(2)}`);

  {
    const dir = join(root, "pm2");
    mkdirSync(dir);
    say("pm2")("pm2.connect (starts the daemon)");
    const pm2 = await startPm2(dir, s.units, pm2Dir);
    daemons.add(pm2.daemonPid);
    closers.push(() => pm2.close());
    const load = loadavg()[0]!;
    results.push({ side: pm2, figures: await measure(pm2, s, say("pm2")), load });
    await pm2.close();
    killTree(pm2.daemonPid);
  }
  loads.push(`after PM2 ${loadavg()[0]!.toFixed(2)}`);

  if (withSupervisord) {
    const dir = join(root, "supervisord");
    mkdirSync(dir);
    say("supervisord")("supervisord -n");
    const sv = await startSupervisord(dir, s.units);
    daemons.add(sv.daemonPid);
    closers.push(() => sv.close());
    const load = loadavg()[0]!;
    results.push({ side: sv, figures: await measure(sv, s, say("supervisord")), load });
    await sv.close();
    killTree(sv.daemonPid);
    loads.push(`after supervisord ${loadavg()[0]!.toFixed(2)}`);
  } else {
    process.stderr.write("supervisord is not installed (Debian: apt-get install -y supervisor): that column is empty\n");
  }
} catch (e) {
  process.stderr.write(`master benchmark failed: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
} finally {
  const left = await cleanup();
  if (left) {
    process.stderr.write(`warning: ${left} unit process(es) were left behind and have been killed\n`);
    process.exitCode = 1;
  }
}
if (floors && results.length) report(floors);
// Everything this run started is gone by now, but a child-process handle (seen: one ProcessWrap,
// from a side's library) can keep the event loop alive: leave once the report is written.
process.stdout.write("", () => process.exit());

/** The daemon's memory as the kernel sees it (KiB): /proc/<pid>/status. */
function procMemory(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of readFileSync(`/proc/${pid}/status`, "utf8").matchAll(/^(VmRSS|RssAnon|RssFile|RssShmem|VmHWM|Threads):\s+(\d+)/gm)) out[m[1]!] = Number(m[2]);
  try {
    out.fds = readdirCount(`/proc/${pid}/fd`);
  } catch {
    // Not readable.
  }
  return out;
}

function readdirCount(dir: string): number {
  return readdirSync(dir).length;
}

function report(f: Floors): void {
  const get = (name: string) => results.find((r) => r.side.name === name);
  const hsu = get("HSU");
  const pm2 = get("PM2");
  const sv = get("supervisord");
  const mib = (k: number) => (k / 1024).toFixed(1);
  const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? "-" : b <= 0 ? (a <= 0 ? "equal" : "-") : `${(a / b).toFixed(2)}x`);
  const verdict = (value: number | undefined, limit: number | undefined, what: string, show: (v: number) => string) =>
    value === undefined || limit === undefined
      ? `${what}: not measured`
      : value <= limit
        ? `${what}: met (${ratio(value, limit)} of the limit ${show(limit)})`
        : `${what}: missed by ${ratio(value, limit)} (limit ${show(limit)})`;
  type Row = { name: string; v: (r: Result) => number; show: (v: number, r: Result) => string; floor?: number; floorText?: string; goal: (h: number | undefined) => string };
  const pct = (v: number) => `${v.toFixed(2)} %`;
  const mibs = (k: number) => `${mib(k)} MiB`;
  const restartMed = (r: Result) => median(r.figures.restartMs);
  const rows: Row[] = [
    {
      name: `master RSS, ${s.units} units idle (MiB)`,
      v: (r) => r.figures.idleRssKib,
      show: (v) => mib(v),
      floor: f.bareRssKib,
      floorText: `bare Node: ${mib(f.bareRssKib)}`,
      goal: (h) => `${verdict(h, 1.3 * f.bareRssKib, "<= 1.3x bare Node", mibs)}; ${verdict(h, pm2 ? 0.6 * pm2.figures.idleRssKib : undefined, "<= 0.6x PM2", mibs)}`,
    },
    {
      name: `master idle CPU, ${s.idleMs / 1000} s (% of a core)`,
      v: (r) => r.figures.idleCpuPercent,
      show: (v) => v.toFixed(2),
      floor: 0,
      floorText: "0",
      goal: (h) => verdict(h, pm2 ? pm2.figures.idleCpuPercent + 0.05 : undefined, "<= PM2 + 0.05 %", pct),
    },
    {
      name: `restart after kill -9, median of ${s.kills} (min-max)`,
      v: restartMed,
      show: (v, r) => `${ms(v)} (${Math.min(...r.figures.restartMs).toFixed(0)}-${Math.max(...r.figures.restartMs).toFixed(0)})`,
      goal: (h) => verdict(h, pm2 ? restartMed(pm2) : undefined, "<= PM2", ms),
    },
    {
      name: `start all ${s.units}, command to all spawned`,
      v: (r) => r.figures.startMs,
      show: (v) => ms(v),
      floor: f.spawnLoopMs,
      floorText: `Node spawn loop: ${ms(f.spawnLoopMs)}`,
      goal: (h) => verdict(h, 2 * f.spawnLoopMs, "<= 2x the spawn loop", ms),
    },
    {
      name: `stop all ${s.units}, command to all gone`,
      v: (r) => r.figures.stopMs,
      show: (v) => ms(v),
      floor: f.killLoopMs,
      floorText: `Node kill loop: ${ms(f.killLoopMs)}`,
      goal: (h) => verdict(h, sv?.figures.stopMs, "<= supervisord", ms),
    },
    {
      name: `status CLI (\`hsu ps\`, \`pm2 jlist\`, \`supervisorctl status\`), median of ${s.psRuns}`,
      v: (r) => median(r.figures.statusMs),
      show: (v) => ms(v),
      floor: median(f.bareStartMs),
      floorText: `\`node -e ''\`: ${ms(median(f.bareStartMs))}`,
      goal: (h) => verdict(h, 2 * median(f.bareStartMs), "<= 2x `node -e ''`", ms),
    },
  ];
  // The CLI figures against `node -e ''` run beside each of them (same moments, same load).
  const cli = (r: Result | undefined) => (r?.figures.versionMs.length ? r : undefined);
  const out: string[] = [
    `Machine: ${cpus().length} x ${cpus()[0]?.model ?? "?"}, Node ${process.version}. ${s.units} \`sleep\` units. Load average (1 min): ${loads.join(", ")}, end ${loadavg()[0]!.toFixed(2)}.`,
    `Sides: ${results.map((r) => `${r.side.version} (load ${r.load.toFixed(2)} at its start)`).join(", ")}.`,
    "",
    "| figure | HSU | PM2 | supervisord | floor | HSU / PM2 | HSU / supervisord | HSU / floor | issue 10 goal |",
    "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |",
  ];
  for (const row of rows) {
    const cell = (r: Result | undefined) => (r ? row.show(row.v(r), r) : "-");
    const h = hsu ? row.v(hsu) : undefined;
    out.push(
      `| ${row.name} | ${cell(hsu)} | ${cell(pm2)} | ${cell(sv)} | ${row.floorText ?? "-"} | ${ratio(h, pm2 && row.v(pm2))} | ${ratio(h, sv && row.v(sv))} | ${row.floor !== undefined ? ratio(h, row.floor) : "-"} | ${row.goal(h)} |`,
    );
  }
  const hc = cli(hsu);
  if (hc) {
    const bare = median(hc.figures.cliBareMs);
    const version = median(hc.figures.versionMs);
    const ps = median(hc.figures.statusMs);
    out.push(
      "",
      `CLI, HSU, median of ${hc.figures.statusMs.length}, each run right after a \`node -e ''\` (${ms(bare)}): \`hsu --version\` ${ms(version)} (${ratio(version, bare)}), \`hsu ps\` ${ms(ps)} (${ratio(ps, bare)}); ${verdict(ps, 2 * bare, "`hsu ps` <= 2x `node -e ''`", ms)}.`,
    );
  }
  if (hsuExtra) {
    out.push(
      "",
      `HSU only: \`hsu up -d\` (daemon up, ${s.units} units loaded, none started) ${ms(hsuExtra.upMs)}; \`hsu down\` with ${s.units} units running, CLI start to exit (everything gone) ${ms(hsuExtra.downMs)}.`,
    );
    if (hsuExtra.proc) out.push(`HSU daemon /proc (KiB, units running): ${Object.entries(hsuExtra.proc).map(([k, v]) => `${k} ${v}`).join(", ")}.`);
    out.push(`Bare Node /proc (KiB): VmRSS ${f.bareRssKib}, RssAnon ${f.bareRssAnonKib}, RssFile ${f.bareRssFileKib}.`);
    const m = hsuExtra.memory as { memoryUsage?: Record<string, number>; spaces?: { name: string; used: number; size: number }[]; handles?: Record<string, number> } | undefined;
    if (m?.memoryUsage) out.push(`HSU daemon process.memoryUsage() (MiB): ${Object.entries(m.memoryUsage).map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(1)}`).join(", ")}.`);
    if (m?.spaces) out.push(`V8 heap spaces, used/size (MiB): ${m.spaces.map((x) => `${x.name} ${(x.used / 2 ** 20).toFixed(1)}/${(x.size / 2 ** 20).toFixed(1)}`).join(", ")}.`);
    if (m?.handles) out.push(`Active libuv resources: ${Object.entries(m.handles).map(([k, v]) => `${k} ${v}`).join(", ")}.`);
    const hp = hsuExtra.heap;
    if (hp) {
      out.push(`Heap snapshot: ${(hp.totalBytes / 2 ** 20).toFixed(1)} MiB in ${hp.nodes} nodes; by type: ${hp.byType.slice(0, 8).map((t) => `${t.type} ${(t.bytes / 2 ** 20).toFixed(1)}`).join(", ")} (MiB).`);
      out.push(`Largest kinds: ${hp.top.map((t) => `${t.name} ${(t.bytes / 2 ** 20).toFixed(2)} MiB (${t.count})`).join("; ")}.`);
    }
  }
  out.push("", "How each side was measured:");
  for (const r of results) for (const n of r.side.notes) out.push(`- ${r.side.name}: ${n}`);
  out.push(
    "- all: units are the daemon's direct `sleep` children in /proc (zombies not counted), polled every ~1 ms; RSS is the daemon process's VmRSS, maximum over the idle window; CPU is its utime+stime over the window, which opens 12 s after every unit is back (HSU samples usage for 10 s after the last status read)",
    "- floors: bare Node's RSS is `node -e 'setInterval(()=>{},1e6)'`; the spawn loop spawns N `sleep` with `detached: true` and piped output until every 'spawn' event, then SIGTERMs them until every 'exit'",
  );
  process.stdout.write(`${out.join("\n")}\n`);
  const cache = fileURLToPath(new URL("../../.cache/", import.meta.url));
  mkdirSync(cache, { recursive: true });
  writeFileSync(join(cache, `bench-master-${s.units}.json`), JSON.stringify({ sizes: s, loads, floors: f, results: results.map((r) => ({ side: r.side.name, version: r.side.version, load: r.load, ...r.figures })), hsuExtra }, null, 1));
}
