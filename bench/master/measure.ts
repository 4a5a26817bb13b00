// The one measurement every side of the master benchmark goes through: each side only
// says how to start and stop its N units and how its status command is run; the
// figures all come from /proc (the daemon's `sleep` children), the same way for all.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { childPids, cpuMs, median, pollUntil, rssKib } from "../supervisor/proc.ts";

/**
 * The unit every side runs: `sleep` with an argument no other benchmark uses, so leftovers can be
 * found; the fraction is this run's pid, so the sweep at the end never kills the units of another
 * run of this benchmark on the same machine.
 */
export const unitArg = `1000010.${process.pid}`;

export interface Sizes {
  units: number;
  kills: number;
  idleMs: number;
  psRuns: number;
  /** Upper bound of any one wait (all spawned, one restart, all gone). */
  timeoutMs: number;
}

export function sizes(quick: boolean, units: number | undefined): Sizes {
  const n = units ?? (quick ? 20 : 100);
  return quick
    ? { units: n, kills: 3, idleMs: 5_000, psRuns: 3, timeoutMs: 60_000 }
    : { units: n, kills: 10, idleMs: 25_000, psRuns: 10, timeoutMs: Math.max(90_000, n * 300) };
}

/** A command line run as its own process and timed to its exit. */
export interface CliCommand {
  command: string;
  args: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

/** A supervising daemon already up with its N units defined and none running. */
export interface Side {
  name: string;
  version: string;
  daemonPid: number;
  /** Sends the "start every unit" command; may resolve before or after the units run. */
  startAll(): Promise<unknown>;
  /** Sends the "stop every unit" command. */
  stopAll(): Promise<unknown>;
  /** The status command a person types (`hsu ps`), run as its own process. */
  status: CliCommand;
  /** A CLI command that does no RPC (`hsu --version`): the CLI's own start, timed beside `status`. */
  startOnly?: CliCommand;
  notes: string[];
}

export interface Figures {
  startMs: number;
  restartMs: number[];
  idleRssKib: number;
  idleCpuPercent: number;
  statusMs: number[];
  /** `node -e ''`, run right before each status run: the floor of the CLI figures, from the same moments. */
  cliBareMs: number[];
  /** The side's `startOnly` command, one entry per status run (empty when it has none). */
  versionMs: number[];
  stopMs: number;
}

/** The daemon's unit processes: its direct `sleep <unitArg>` children, zombies not counted. */
export function unitsOf(daemonPid: number): number[] {
  return [...childPids(daemonPid)].filter(isLiveUnit);
}

function isLiveUnit(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z") return false;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return isSleep(cmd[0]) && cmd[1] === unitArg;
  } catch {
    return false;
  }
}

/** Runs the whole figure set on one side; `say` reports progress. */
export async function measure(side: Side, s: Sizes, say: (step: string) => void): Promise<Figures> {
  const pid = side.daemonPid;
  if (unitsOf(pid).length) throw new Error(`${side.name}: units already running before the start command`);

  say(`start all ${s.units}`);
  const t0 = performance.now();
  const command = side.startAll();
  const all = await pollUntil(() => (unitsOf(pid).length >= s.units ? true : undefined), s.timeoutMs);
  await command;
  if (!all) throw new Error(`${side.name}: not every unit was spawned within ${s.timeoutMs / 1000}s (${unitsOf(pid).length} of ${s.units})`);
  const startMs = performance.now() - t0;

  say(`kill -9 one unit, ${s.kills} times`);
  const restartMs: number[] = [];
  for (let k = 0; k < s.kills; k++) {
    const before = new Set(unitsOf(pid));
    const victim = [...before][k % before.size]!;
    const t = performance.now();
    process.kill(victim, "SIGKILL");
    const fresh = await pollUntil(() => unitsOf(pid).find((p) => !before.has(p)), s.timeoutMs);
    if (fresh === undefined) throw new Error(`${side.name}: a killed unit was not restarted within ${s.timeoutMs / 1000}s`);
    restartMs.push(performance.now() - t);
  }
  // Every unit back before the idle window (a restart may still be in flight for another side's policy).
  await pollUntil(() => (unitsOf(pid).length >= s.units ? true : undefined), s.timeoutMs, 10);

  say(`idle ${s.idleMs / 1000} s`);
  // 12 s of settling for every side: HSU samples usage for 10 s after the last status read (`hsu up -d`'s
  // progress reads before this function ran), and "idle" is a master nobody has asked anything for that long.
  await new Promise((r) => setTimeout(r, 12_000));
  const cpu0 = cpuMs(pid);
  const w0 = performance.now();
  let maxRss = 0;
  for (let i = 0; performance.now() - w0 < s.idleMs && i < s.idleMs / 500 + 10; i++) {
    maxRss = Math.max(maxRss, rssKib(pid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const idleCpuPercent = ((cpuMs(pid) - cpu0) / (performance.now() - w0)) * 100;

  say(`status command, ${s.psRuns} times, each beside \`node -e ''\`${side.startOnly ? " and the start-only command" : ""}`);
  const statusMs: number[] = [];
  const cliBareMs: number[] = [];
  const versionMs: number[] = [];
  const time = (c: CliCommand) => timeProcess(c.command, c.args, c.cwd, c.env, s.timeoutMs);
  for (let i = 0; i < s.psRuns; i++) {
    cliBareMs.push(await timeProcess(process.execPath, ["-e", ""], side.status.cwd, undefined, s.timeoutMs, false));
    if (side.startOnly) versionMs.push(await time(side.startOnly));
    statusMs.push(await time(side.status));
  }

  say(`stop all ${s.units}`);
  const t1 = performance.now();
  const stopping = side.stopAll();
  const gone = await pollUntil(() => (unitsOf(pid).length === 0 ? true : undefined), s.timeoutMs);
  await stopping;
  if (!gone) throw new Error(`${side.name}: units still running ${s.timeoutMs / 1000}s after the stop command`);
  const stopMs = performance.now() - t1;
  return { startMs, restartMs, idleRssKib: maxRss, idleCpuPercent, statusMs, cliBareMs, versionMs, stopMs };
}

/** Runs a command to its exit (output read to the end) and returns the wall time; throws on failure or (when `needOutput`) on empty stdout. */
export function timeProcess(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv | undefined, timeoutMs: number, needOutput = true): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(command, args, { cwd, env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = 0;
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.length));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      const ms = performance.now() - t;
      if (code !== 0) reject(new Error(`${command} ${args.join(" ")}: exit ${code}: ${err.slice(-500)}`));
      else if (needOutput && out === 0) reject(new Error(`${command} ${args.join(" ")}: printed nothing`));
      else resolve(ms);
    });
  });
}

/** Median of a list. */
export { median };

/** SIGKILLs a daemon, its unit processes and their process groups; never this process's group. */
export function killTree(daemonPid: number): void {
  const own = pgidOf(process.pid);
  for (const p of childPids(daemonPid)) killGroupAndPid(p, own);
  killGroupAndPid(daemonPid, own);
}

function killGroupAndPid(pid: number, own: number | undefined): void {
  const g = pgidOf(pid);
  try {
    if (g !== undefined && g !== own && g > 1) process.kill(-g, "SIGKILL");
  } catch {
    // The group is gone.
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function pgidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
  } catch {
    return undefined;
  }
}

/** Kills every `sleep <unitArg>` left on the host (none should be) and says how many there were. */
export function sweepUnits(): number {
  let n = 0;
  for (const entry of readdirNumeric()) {
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (isSleep(cmd[0]) && cmd[1] === unitArg) {
        process.kill(entry, "SIGKILL");
        n++;
      }
    } catch {
      // It ended while we looked.
    }
  }
  return n;
}

function readdirNumeric(): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

// A supervisor may exec `sleep` by name or by its resolved path (/usr/bin/sleep).
const isSleep = (arg0: string | undefined) => arg0 === "sleep" || (arg0 ?? "").endsWith("/sleep");
