// A/B of the hsu daemon's memory (HSU side only, no PM2 or supervisord): the same figures as
// run.ts's HSU column (start all, kill -9 restarts, idle RSS and CPU, stop all) for each variant of
// node flags given to the CLI (the daemon inherits them), alternated round by round, plus the
// daemon's /proc memory, process.memoryUsage(), V8 heap spaces and its loaded ES modules with the
// units running, and bare Node's RSS in the same round. For deciding a change; the table of
// record is run.ts (with PM2 and supervisord in the same run).
//
//   node --conditions=@hsu/source bench/master/ab.ts [--units=N] [--idle=S] [--rounds=R] \
//     [--variant='name[@/other/checkout]=--flag --flag2 NAME=value' ...] [--modules] [--snapshot] [--hsu=dist|bundle|source|sea]
//
// A variant named `name@/path` runs the build of another checkout (a `git worktree add` of the
// commit before a change, built there): old and new alternate in the same run.
//
// Without --variant it measures one variant, "default" (no extra flags). --modules counts the
// daemon's loaded modules (a load hook in the probe; it costs a little memory of its own).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pollUntil, rssKib } from "../supervisor/proc.ts";
import { measureFloors } from "./floors.ts";
import { summariseHeap } from "./heap-summary.ts";
import { hsuBuilds, startHsu, type HsuBuild } from "./hsu.ts";
import { killTree, measure, median, sizes, timeProcess, unitsOf } from "./measure.ts";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const units = Number(arg("units") ?? 100);
const rounds = Number(arg("rounds") ?? 1);
const idleS = Number(arg("idle") ?? 25);
const countModules = process.argv.includes("--modules");
// Which hsu runs (hsu.ts): the npm bundle is what users run.
const build = (arg("hsu") ?? "dist") as HsuBuild;
if (!hsuBuilds.includes(build)) throw new Error(`--hsu=${build}: one of ${hsuBuilds.join(", ")}`);
const variants = process.argv
  .filter((a) => a.startsWith("--variant="))
  .map((a) => {
    const v = a.slice(10);
    const i = v.indexOf("=");
    const [name, root] = (i < 0 ? v : v.slice(0, i)).split("@");
    const words = i < 0 ? [] : v.slice(i + 1).split(/\s+/).filter(Boolean);
    // NAME=value words are the daemon's environment (NODE_DISABLE_COMPILE_CACHE=1), the rest node flags.
    const env = Object.fromEntries(words.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w)).map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]));
    return { name: name!, root, env, flags: words.filter((w) => !/^[A-Z_][A-Z0-9_]*=/.test(w)) };
  });
if (!variants.length) variants.push({ name: "default", root: undefined, env: {}, flags: [] });
const s = { ...sizes(false, units), kills: 3, psRuns: 1, idleMs: idleS * 1000 };

const root = mkdtempSync(join(tmpdir(), "hsu-mab-"));
const daemons = new Set<number>();
// Only this run's daemons and their units: never a host-wide sweep (other runs of the benchmark may share the machine).
const cleanup = () => {
  for (const pid of daemons) killTree(pid);
  rmSync(root, { recursive: true, force: true });
};
process.once("SIGINT", () => (cleanup(), process.exit(130)));
const budget = setTimeout(() => (process.stderr.write("over the time budget\n"), cleanup(), process.exit(1)), 60 * 60_000);
budget.unref();

interface Row {
  variant: string;
  round: number;
  load: number;
  bareRssKib: number;
  idleRssKib: number;
  idleCpu: number;
  startMs: number;
  stopMs: number;
  restartMs: number;
  proc: Record<string, number>;
  mem?: { memoryUsage: Record<string, number>; spaces: { name: string; used: number; size: number }[]; modules?: string[]; builtins?: string[] };
}
const rows: Row[] = [];
const mib = (k: number) => (k / 1024).toFixed(1);

try {
  for (let r = 0; r < rounds; r++) {
    const floors = await measureFloors({ ...s, psRuns: 1 }, root);
    for (const v of r % 2 ? [...variants].reverse() : variants) {
      const dir = join(root, `${v.name}-${r}`);
      mkdirSync(dir);
      const env = { ...v.env, ...(countModules ? { HSU_BENCH_PROBE_MODULES: "1" } : {}) };
      Object.assign(process.env, env);
      const hsu = startHsu(dir, units, build, v.flags, v.root);
      daemons.add(hsu.daemonPid);
      const load = loadavg()[0]!;
      const f = await measure(hsu, s, (step) => process.stderr.write(`  ${v.name} #${r}: ${step} (load ${loadavg()[0]!.toFixed(2)})\n`));
      await hsu.startAll();
      await pollUntil(() => (unitsOf(hsu.daemonPid).length >= units ? true : undefined), s.timeoutMs, 10);
      await new Promise((res) => setTimeout(res, 2000));
      const proc: Record<string, number> = {};
      for (const m of readFileSync(`/proc/${hsu.daemonPid}/status`, "utf8").matchAll(/^(VmRSS|RssAnon|RssFile|VmHWM|Threads):\s+(\d+)/gm)) proc[m[1]!] = Number(m[2]);
      process.kill(hsu.daemonPid, "SIGUSR2");
      const j = await pollUntil(() => (existsSync(`${hsu.probeBase}.json`) ? `${hsu.probeBase}.json` : undefined), 10_000, 20);
      const mem = j ? (JSON.parse(readFileSync(j, "utf8")) as Row["mem"]) : undefined;
      if (process.argv.includes("--snapshot")) {
        // After the probe: a heap snapshot collects garbage first, so it shows what is retained.
        process.kill(hsu.daemonPid, "SIGWINCH");
        const snap = await pollUntil(() => (existsSync(`${hsu.probeBase}.heapsnapshot`) ? `${hsu.probeBase}.heapsnapshot` : undefined), 120_000, 100);
        if (snap) {
          const h = summariseHeap(snap, 25);
          process.stdout.write(`\n${v.name} #${r} heap snapshot: ${(h.totalBytes / 1048576).toFixed(1)} MiB; ${h.top.map((t) => `${t.name} ${(t.bytes / 1048576).toFixed(2)} MiB (${t.count})`).join("; ")}\n`);
          rmSync(snap);
        }
      }
      const down = hsu.cli(["down"]);
      await timeProcess(down.command, down.args, dir, { ...process.env, NO_COLOR: "1" }, s.timeoutMs);
      if (rssKib(hsu.daemonPid) > 0) killTree(hsu.daemonPid);
      daemons.delete(hsu.daemonPid);
      for (const k of Object.keys(env)) delete process.env[k];
      rows.push({ variant: v.name, round: r, load, bareRssKib: floors.bareRssKib, idleRssKib: f.idleRssKib, idleCpu: f.idleCpuPercent, startMs: f.startMs, stopMs: f.stopMs, restartMs: median(f.restartMs), proc, ...(mem ? { mem } : {}) });
      const last = rows.at(-1)!;
      process.stderr.write(`  ${v.name} #${r}: idle RSS ${mib(last.idleRssKib)} MiB (bare ${mib(last.bareRssKib)}), CPU ${last.idleCpu.toFixed(2)} %, start ${last.startMs.toFixed(0)} ms, stop ${last.stopMs.toFixed(0)} ms\n`);
    }
  }
} catch (e) {
  process.stderr.write(`ab failed: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
} finally {
  cleanup();
}

const space = (row: Row, name: string) => row.mem?.spaces.find((x) => x.name === name);
const b = (n: number | undefined) => (n === undefined ? "-" : (n / 1048576).toFixed(1));
process.stdout.write(
  `\n${units} units, idle ${idleS} s, ${rounds} round(s), hsu from ${build}\n\n| variant | round | load | idle RSS MiB | bare Node | RSS / bare | idle CPU % | start ms | stop ms | restart ms | RssAnon | RssFile | heapTotal | heapUsed | external | new space used/size | old space used/size | code | modules | builtins |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |\n`,
);
for (const r of rows) {
  const mu = r.mem?.memoryUsage;
  const ns = space(r, "new_space");
  const os = space(r, "old_space");
  const files = r.mem?.modules?.filter((u) => u.startsWith("file:")).length;
  process.stdout.write(
    `| ${r.variant} | ${r.round} | ${r.load.toFixed(2)} | ${mib(r.idleRssKib)} | ${mib(r.bareRssKib)} | ${(r.idleRssKib / r.bareRssKib).toFixed(2)}x | ${r.idleCpu.toFixed(2)} | ${r.startMs.toFixed(0)} | ${r.stopMs.toFixed(0)} | ${r.restartMs.toFixed(0)} | ${mib(r.proc.RssAnon ?? 0)} | ${mib(r.proc.RssFile ?? 0)} | ${b(mu?.heapTotal)} | ${b(mu?.heapUsed)} | ${b(mu?.external)} | ${b(ns?.used)}/${b(ns?.size)} | ${b(os?.used)}/${b(os?.size)} | ${b(space(r, "code_space")?.used)} | ${files === undefined ? "-" : `${files} files, ${r.mem!.modules!.length - files} other`} | ${r.mem?.builtins?.length ?? "-"} |\n`,
  );
}
if (process.argv.includes("--list-modules")) for (const r of rows) if (r.mem?.modules) process.stdout.write(`\n${r.variant}:\n${r.mem.modules.join("\n")}\n`);
if (process.argv.includes("--list-builtins")) for (const r of rows) if (r.mem?.builtins) process.stdout.write(`\n${r.variant} #${r.round} builtins:\n${r.mem.builtins.join(" ")}\n`);
process.stdout.write("", () => process.exit());
