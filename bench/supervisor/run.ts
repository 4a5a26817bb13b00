// Supervisor benchmark: HSU's supervisor side by side with PM2 (and
// supervisord where installed) in one run. Each side runs in its own process
// and reports one JSON line; this prints a markdown table with ratios.
//
//   node --conditions=@hsu/source bench/supervisor/run.ts [--quick]
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./proc.ts";
import { idleUnit, scenario, type SideResult } from "./scenario.ts";
import { ensurePm2, hasSupervisord } from "./setup.ts";

const quick = process.argv.includes("--quick");
const s = scenario(quick);
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const workRoot = fileURLToPath(new URL("../../.cache/bench-supervisor/", import.meta.url));
rmSync(workRoot, { recursive: true, force: true });

/** Runs one side in its own process group; kills the group if it overruns. */
async function side(name: string, file: string, args: string[], nodeFlags: string[] = []): Promise<SideResult | undefined> {
  const workDir = join(workRoot, name);
  mkdirSync(workDir, { recursive: true });
  const child = spawn(process.execPath, [...nodeFlags, here(file), workDir, ...args, ...(quick ? ["--quick"] : [])], {
    stdio: ["ignore", "pipe", "inherit"],
    detached: true,
  });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c));
  const timer = setTimeout(() => {
    process.stderr.write(`${name}: over its time budget, killing it\n`);
    process.kill(-child.pid!, "SIGKILL");
  }, 4 * s.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(timer);
  if (code !== 0) {
    killDaemonOf(workDir);
    process.stderr.write(`${name}: exited with ${code}; no numbers for this side\n`);
    return undefined;
  }
  process.stderr.write(`${name}: done\n`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as SideResult;
}

/** A side killed mid-run cannot stop the PM2 daemon (its own session): do it from its pid file. */
function killDaemonOf(workDir: string): void {
  try {
    process.kill(Number(readFileSync(join(workDir, "pm2-home", "pm2.pid"), "utf8")), "SIGKILL");
  } catch {
    // No PM2 daemon for this side, or it is already gone.
  }
}

/** Kills any unit process a side left behind (none should remain) and says how many. */
function sweepLeftovers(): number {
  let n = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
      if (cmd[0] === idleUnit.command && cmd[1] === idleUnit.args[0]) {
        process.kill(Number(entry), "SIGKILL");
        n++;
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return n;
}

const load0 = loadavg()[0]!;
const results: SideResult[] = [];
const hsu = await side("hsu", "./hsu-side.ts", [], ["--conditions=@hsu/source"]);
if (hsu) results.push(hsu);
const pm2 = await side("pm2", "./pm2-side.ts", [ensurePm2()]);
if (pm2) results.push(pm2);
let sv: SideResult | undefined;
if (hasSupervisord()) {
  sv = await side("supervisord", "./supervisord-side.ts", []);
  if (sv) results.push(sv);
} else {
  process.stderr.write("supervisord is not installed (Debian: apt-get install -y supervisor): skipping that side\n");
}
const leftovers = sweepLeftovers();
rmSync(workRoot, { recursive: true, force: true });
printReport();
if (leftovers > 0) {
  process.stderr.write(`warning: ${leftovers} unit process(es) were left behind and have been killed\n`);
  process.exitCode = 1;
}

interface Metric {
  name: string;
  value: (r: SideResult) => number;
  format: (v: number) => string;
  /** "lower" when a smaller value is better. */
  better: "lower" | "higher";
}

function printReport(): void {
  const metrics: Metric[] = [
    { name: `start ${s.units} units until all running (ms)`, value: (r) => r.start100Ms, format: (v) => v.toFixed(0), better: "lower" },
    { name: `restart after kill -9, median of ${s.kills} (ms)`, value: (r) => median(r.restartMs), format: (v) => v.toFixed(1), better: "lower" },
    { name: `restart after kill -9, worst of ${s.kills} (ms)`, value: (r) => Math.max(...r.restartMs), format: (v) => v.toFixed(1), better: "lower" },
    { name: `master RSS, ${s.units} units, ${s.idleMs / 1000} s idle (MiB)`, value: (r) => r.idleRssKib / 1024, format: (v) => v.toFixed(1), better: "lower" },
    { name: "master CPU while idle (% of one core)", value: (r) => r.idleCpuPercent, format: (v) => v.toFixed(2), better: "lower" },
    { name: `log throughput, ${s.logLines} lines (lines/s)`, value: (r) => r.logCaptured / (r.logMs / 1000), format: (v) => Math.round(v).toString(), better: "higher" },
    { name: "log lines lost", value: (r) => r.logLines - r.logCaptured, format: (v) => v.toFixed(0), better: "lower" },
  ];
  const others = results.filter((r) => r.side !== "HSU");
  const out: string[] = [
    `Machine: ${cpus().length} x ${cpus()[0]?.model ?? "?"}, Node ${process.version}; load average ${load0.toFixed(1)} before the run, ${loadavg()[0]!.toFixed(1)} after. ` +
      `Sides: ${results.map((r) => r.version).join(", ")}.`,
    "",
    `| metric | ${results.map((r) => r.side).join(" | ")} | ${others.map((o) => `HSU vs ${o.side}`).join(" | ")} |`,
    `| --- | ${results.map(() => "---:").join(" | ")} | ${others.map(() => "---").join(" | ")} |`,
  ];
  for (const m of metrics) {
    const cells = results.map((r) => m.format(m.value(r)));
    const vs = others.map((o) => (hsu ? compare(m, m.value(hsu), m.value(o)) : "-"));
    out.push(`| ${m.name} | ${cells.join(" | ")} | ${vs.join(" | ")} |`);
  }
  out.push("", "How each side was measured:");
  for (const r of results) for (const n of r.notes) out.push(`- ${r.side}: ${n}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

/** "HSU 2.10x better" style verdict; ratios are always the larger over the smaller. */
function compare(m: Metric, hsuValue: number, other: number): string {
  if (hsuValue === other) return "equal";
  if (!Number.isFinite(hsuValue) || !Number.isFinite(other)) return "-";
  const hsuBetter = m.better === "lower" ? hsuValue < other : hsuValue > other;
  const lo = Math.min(hsuValue, other);
  const hi = Math.max(hsuValue, other);
  if (lo <= 0) return hsuBetter ? "HSU better" : "HSU worse";
  return `${hsuBetter ? "HSU" : "other"} ${(hi / lo).toFixed(2)}x better`;
}
