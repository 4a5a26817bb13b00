// The PM2 side, driven through PM2's programmatic API with its own PM2_HOME
// under the work dir. PM2 is installed by setup.ts into .cache/bench-tools.
// Prints one SideResult JSON line; always kills its daemon.
//
//   node bench/supervisor/pm2-side.ts <workDir> <pm2Dir> [--quick]
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { childPids, comm, countLines, cpuMs, pollUntil, rssKib } from "./proc.ts";
import { idleUnit, logWriter, scenario, type SideResult } from "./scenario.ts";

const [workDir, pm2Dir] = process.argv.slice(2);
if (!workDir || !pm2Dir) throw new Error("usage: pm2-side.ts <workDir> <pm2Dir> [--quick]");
const s = scenario(process.argv.includes("--quick"));
// PM2 reads PM2_HOME when it is loaded.
process.env.PM2_HOME = join(workDir, "pm2-home");
const require = createRequire(join(pm2Dir, "package.json"));
const pm2 = require("pm2") as Pm2;
const version = (require("pm2/package.json") as { version: string }).version;

interface Pm2Proc {
  name: string;
  pid: number;
  pm2_env: { status: string };
}
interface Pm2 {
  connect(cb: (e: Error | null) => void): void;
  start(opts: object, cb: (e: Error | null) => void): void;
  list(cb: (e: Error | null, l: Pm2Proc[]) => void): void;
  delete(name: string, cb: (e: Error | null) => void): void;
  killDaemon(cb: (e: Error | null) => void): void;
  disconnect(): void;
}
const call = <T>(f: (cb: (e: Error | null, v?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((e, v) => (e ? reject(e) : resolve(v as T))));

const ids = Array.from({ length: s.units }, (_, i) => `u${String(i).padStart(3, "0")}`);
const app = (name: string, command: string, args: string[], extra: object = {}) => ({
  name,
  script: command,
  args,
  interpreter: "none",
  exec_mode: "fork",
  autorestart: true,
  restart_delay: 0,
  exp_backoff_restart_delay: 0,
  max_restarts: 10_000,
  min_uptime: 100,
  // Timestamped lines, like the HSU collector's records.
  time: true,
  ...extra,
});

let daemonPid = 0;
let stopping: Promise<void> | undefined;
try {
  await call((cb) => pm2.connect(cb));
  daemonPid = Number(readFileSync(join(process.env.PM2_HOME, "pm2.pid"), "utf8"));

  progress("starting units");
  // 1. Start every unit; done when PM2 lists each one online with a pid.
  const t0 = performance.now();
  await call((cb) => pm2.start({ apps: ids.map((id) => app(id, idleUnit.command, idleUnit.args)) }, cb));
  const online = async () => (await call<Pm2Proc[]>((cb) => pm2.list(cb))).filter((p) => p.pm2_env.status === "online" && p.pid > 0);
  const end = performance.now() + s.timeoutMs;
  while ((await online()).length < ids.length) {
    if (performance.now() > end) throw new Error("PM2 did not bring every unit online in time");
  }
  const start100Ms = performance.now() - t0;

  progress("killing units one at a time");
  // 2. kill -9 one unit at a time; done when the daemon has a new `sleep` child.
  const restartMs: number[] = [];
  const byName = new Map((await online()).map((p) => [p.name, p.pid]));
  for (let k = 0; k < s.kills; k++) {
    const before = childPids(daemonPid);
    const t = performance.now();
    process.kill(byName.get(ids[k]!)!, "SIGKILL");
    const fresh = await pollUntil(() => [...childPids(daemonPid)].find((p) => !before.has(p) && comm(p) === "sleep"), s.timeoutMs);
    if (fresh === undefined) throw new Error(`PM2 did not restart ${ids[k]} in time`);
    restartMs.push(performance.now() - t);
  }

  progress("idle window");
  // 3. Idle: the daemon's own RSS and CPU from /proc.
  const cpu0 = cpuMs(daemonPid);
  const w0 = performance.now();
  let maxRss = 0;
  while (performance.now() - w0 < s.idleMs) {
    maxRss = Math.max(maxRss, rssKib(daemonPid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const idleCpuPercent = ((cpuMs(daemonPid) - cpu0) / (performance.now() - w0)) * 100;
  await call((cb) => pm2.delete("all", cb));

  progress("log throughput");
  // 4. One unit writing as fast as it can, into PM2's log file; done when the
  // writer has exited and the file stopped growing.
  const outFile = join(workDir, "pm2-logger.out.log");
  const writer = logWriter(s.logLines);
  const l0 = performance.now();
  await call((cb) =>
    pm2.start(app("logger", writer.command, writer.args, { autorestart: false, out_file: outFile, error_file: join(workDir, "pm2-logger.err.log") }), cb),
  );
  let lastSize = -1;
  let lastChange = performance.now();
  const logEnd = performance.now() + s.timeoutMs;
  for (;;) {
    const size = fileSize(outFile);
    if (size !== lastSize) [lastSize, lastChange] = [size, performance.now()];
    const list = await call<Pm2Proc[]>((cb) => pm2.list(cb));
    const done = list.find((p) => p.name === "logger")?.pm2_env.status !== "online";
    if ((done && performance.now() - lastChange > 1000) || performance.now() > logEnd) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const logMs = lastChange - l0;
  // Counted after the daemon is gone, so anything it still buffered has had its chance to reach the file.
  await stopDaemon();
  const logCaptured = await countLines(outFile);

  const result: SideResult = {
    side: "PM2",
    version: `pm2 ${version}`,
    start100Ms,
    restartMs,
    idleRssKib: maxRss,
    idleCpuPercent,
    logLines: s.logLines,
    logCaptured,
    logMs,
    notes: [
      "start: pm2.start of all apps until pm2.list shows each online with a pid",
      "restart: kill -9 until a new `sleep` child of the daemon appears in /proc (before PM2 itself reports it online)",
      "idle: the PM2 daemon process (God) only, RSS maximum over the window; PM2 reads CPU/memory of its processes only when a client asks (pm2 list/monit), and none did",
      "log: time until the out file stopped growing (polled every 50 ms, so up to ~50 ms late); `time: true` prefixes each line with a timestamp",
    ],
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await stopDaemon();
}

function stopDaemon(): Promise<void> {
  stopping ??= (async () => {
    const children = daemonPid ? childPids(daemonPid) : new Set<number>();
    await call((cb) => pm2.killDaemon(cb)).catch((e: unknown) => process.stderr.write(`pm2 killDaemon: ${(e as Error).message}\n`));
    pm2.disconnect();
    for (const p of children) killQuietly(p);
    if (daemonPid) killQuietly(daemonPid);
  })();
  return stopping;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function progress(step: string): void {
  process.stderr.write(`  pm2: ${step}\n`);
}
