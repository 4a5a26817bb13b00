// How fast each shipped shape of `hsu` starts, and how much its daemon holds:
// `hsu --version` and `hsu ps` through the single executable (dist-sea/hsu),
// the npm bundle (dist/bundle/hsu.js) and dist (dist/cli/bin.js), beside bare
// `node -e ''`, median of N runs each, interleaved in one run; then the RSS of
// each shape's daemon with U `sleep` units, idle after `up -d`.
//
//   node --conditions=@hsu/source bench/master/cli-start.ts [--runs=10] [--units=100]
//
// Needs the builds: pnpm turbo run build --filter=./packages/* && pnpm --filter @hsu/master build:sea
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { hsuCli, type HsuBuild } from "./hsu.ts";

const arg = (name: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? d);
const runs = arg("runs", 10);
const units = arg("units", 100);
const shapes: HsuBuild[] = ["sea", "bundle", "dist"];
const root = mkdtempSync(join(tmpdir(), "hsu-cli-start-"));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const env = { ...process.env, NO_COLOR: "1" };

function project(name: string, n: number): string {
  const dir = join(root, name);
  spawnSync("mkdir", ["-p", dir]);
  const body = Array.from({ length: n }, (_, i) => `  u${i}:\n    command: sleep\n    args: ["3600"]\n`).join("");
  writeFileSync(join(dir, "hsu.yaml"), `units:\n${body}`);
  return dir;
}

function hsu(shape: HsuBuild, dir: string, ...args: string[]): { ms: number; out: string } {
  const cli = hsuCli(shape);
  const t = performance.now();
  const r = spawnSync(cli.command, [...cli.args, ...args], { cwd: dir, env, encoding: "utf8", timeout: 120_000 });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${shape} hsu ${args.join(" ")}: exit ${r.status ?? r.signal}: ${r.stderr.slice(-1000)}`);
  return { ms, out: r.stdout + r.stderr };
}

const rssMib = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024;
const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  process.stdout.write(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);
  // Start time: one master (dist) with a few units answers every shape's `hsu ps`.
  const psDir = project("ps", 5);
  hsu("dist", psDir, "up", "-d");
  const times = new Map<string, number[]>();
  const add = (k: string, ms: number) => times.set(k, [...(times.get(k) ?? []), ms]);
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    spawnSync(process.execPath, ["-e", ""]);
    add("node -e ''", performance.now() - t);
    for (const s of shapes) add(`${s} --version`, hsu(s, psDir, "--version").ms);
    for (const s of shapes) add(`${s} ps`, hsu(s, psDir, "ps").ms);
  }
  hsu("dist", psDir, "down");
  const floor = median(times.get("node -e ''")!);
  process.stdout.write(`\nstart to exit, median of ${runs} (interleaved):\n`);
  for (const [k, xs] of times) process.stdout.write(`  ${k.padEnd(16)} ${median(xs).toFixed(0).padStart(5)} ms  (${(median(xs) / floor).toFixed(2)}x node -e '')  min ${Math.min(...xs).toFixed(0)} max ${Math.max(...xs).toFixed(0)}\n`);
  // Daemon RSS: each shape's daemon with `units` sleep units, twice, alternated; read after 5 s idle.
  process.stdout.write(`\ndaemon RSS with ${units} sleep units, 5 s after up -d:\n`);
  const rss = new Map<HsuBuild, number[]>();
  for (let round = 0; round < 2; round++) {
    for (const s of shapes) {
      const dir = project(`rss-${s}-${round}`, units);
      const up = hsu(s, dir, "up", "-d");
      const pid = Number(/master running \(pid (\d+)\)/.exec(up.out)?.[1]);
      await sleepMs(5000);
      rss.set(s, [...(rss.get(s) ?? []), rssMib(pid)]);
      hsu(s, dir, "down");
    }
  }
  for (const [s, xs] of rss) process.stdout.write(`  ${s.padEnd(7)} ${xs.map((x) => `${x.toFixed(1)} MiB`).join(", ")}\n`);
  process.stdout.write(`\nload average at end: ${loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);
} finally {
  for (const s of spawnSync("find", [root, "-name", "hsu.yaml"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean)) {
    spawnSync(process.execPath, [join(import.meta.dirname, "../../packages/master/bin/hsu.js"), "down", "-f", s], { env, timeout: 60_000 });
  }
  rmSync(root, { recursive: true, force: true });
}
