// The PM2 side: PM2 (installed by ../supervisor/setup.ts) with its own PM2_HOME, driven
// through its programmatic API from this process, as ../supervisor/pm2-side.ts does.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { unitArg, type Side } from "./measure.ts";
import { unitIds } from "./hsu.ts";

interface Pm2 {
  connect(cb: (e: Error | null) => void): void;
  start(opts: object, cb: (e: Error | null) => void): void;
  stop(name: string, cb: (e: Error | null) => void): void;
  killDaemon(cb: (e: Error | null) => void): void;
  disconnect(): void;
}
const call = (f: (cb: (e: Error | null) => void) => void): Promise<void> => new Promise((resolve, reject) => f((e) => (e ? reject(e) : resolve())));

export interface Pm2Side extends Side {
  close(): Promise<void>;
}

/** Loads PM2 with PM2_HOME under `dir`, connects (which starts its daemon) and returns the side. */
export async function startPm2(dir: string, n: number, pm2Dir: string): Promise<Pm2Side> {
  const home = join(dir, "pm2-home");
  // PM2 reads PM2_HOME when it is loaded; this process loads it only here.
  process.env.PM2_HOME = home;
  const require = createRequire(join(pm2Dir, "package.json"));
  const pm2 = require("pm2") as Pm2;
  const version = (require("pm2/package.json") as { version: string }).version;
  await call((cb) => pm2.connect(cb));
  const daemonPid = Number(readFileSync(join(home, "pm2.pid"), "utf8"));
  const apps = unitIds(n).map((name) => ({
    name,
    script: "sleep",
    args: [unitArg],
    interpreter: "none",
    exec_mode: "fork",
    autorestart: true,
    restart_delay: 0,
    exp_backoff_restart_delay: 0,
    max_restarts: 10_000,
    min_uptime: 100,
  }));
  let closed: Promise<void> | undefined;
  return {
    name: "PM2",
    version: `pm2 ${version}`,
    daemonPid,
    startAll: () => call((cb) => pm2.start({ apps }, cb)),
    stopAll: () => call((cb) => pm2.stop("all", cb)),
    status: { command: process.execPath, args: [join(pm2Dir, "bin", "pm2"), "jlist"], cwd: dir, env: { ...process.env, PM2_HOME: home } },
    notes: [
      "the PM2 daemon (God) started by pm2.connect, own PM2_HOME; apps `interpreter: none`, `restart_delay: 0`",
      "start: pm2.start of all apps (this registers them too); stop: pm2.stop('all'); both from the benchmark process over PM2's RPC socket",
      "status: `pm2 jlist` (a new CLI process) to its exit",
    ],
    close: () =>
      (closed ??= call((cb) => pm2.killDaemon(cb))
        .catch((e: unknown) => void process.stderr.write(`pm2 killDaemon: ${(e as Error).message}\n`))
        .finally(() => pm2.disconnect())),
  };
}
