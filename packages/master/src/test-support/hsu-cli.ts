// What the slow suites need to drive the real `hsu` binary and look at the
// processes it leaves: one copy, so every suite runs the CLI the same way.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { lockHolder } from "../daemon/lock.ts";
import { ownedProcesses } from "../daemon/owned-processes.ts";

/** The CLI entry point, run from source. */
export const hsuMain = join(import.meta.dirname, "..", "cli", "bin.ts");

/** How one `hsu` command ended. */
export interface HsuResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How to run one command: where, with which environment on top of the default one, and for how long at most. */
export interface RunOptions {
  /** Working directory; this process's when left out. */
  cwd?: string;
  /** Set over `process.env` with NO_COLOR=1 and FORCE_COLOR removed; a value `undefined` removes that variable. */
  env?: Record<string, string | undefined>;
  /** Killed after this long (default 120 s); the result then has code 1 and the signal in stderr. */
  timeoutMs?: number;
}

/** Runs `command ...args` and returns its exit code and output; never throws for a non-zero exit. */
export async function run(command: string, args: string[], options: RunOptions = {}): Promise<HsuResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: undefined, ...options.env },
      timeout: options.timeoutMs ?? 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number | string | null; signal?: string | null; stdout?: string; stderr?: string };
    const why = typeof err.code === "string" ? err.code : err.signal ? `killed by ${err.signal}` : "";
    return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: `${err.stderr ?? ""}${why ? ` (${why})` : ""}` };
  }
}

/** The argv that runs the CLI from source: `[node, ...hsuArgv(...args)]`, e.g. under prlimit. */
export const hsuArgv = (...args: string[]): string[] => ["--conditions=@hsu/source", hsuMain, ...args];

/** Runs `hsu ...args` in `cwd` (no colours, 120 s at most) and returns its exit code and output; never throws for a non-zero exit. */
export function hsu(cwd: string, ...args: string[]): Promise<HsuResult> {
  return hsuWith({ cwd }, ...args);
}

/** `hsu ...args` with other options: no cwd, another environment or timeout. */
export function hsuWith(options: RunOptions, ...args: string[]): Promise<HsuResult> {
  return run(process.execPath, hsuArgv(...args), options);
}

/**
 * Temp project directories with an hsu.yaml; `removeAll()` SIGKILLs a master
 * still holding one of their state dirs and its units' processes (a test that
 * failed before its `hsu down`) and deletes every one made.
 */
export function createProjects(prefix: string): { make(spec: string): string; removeAll(): void } {
  const dirs: string[] = [];
  return {
    make(spec) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      writeFileSync(join(dir, "hsu.yaml"), spec);
      return dir;
    },
    removeAll() {
      for (const d of dirs.splice(0)) {
        const holder = lockHolder(join(d, ".hsu")).pid;
        if (holder !== undefined && alive(holder)) process.kill(holder, "SIGKILL");
        // Units outlive a killed master by design: theirs go too, each with its process group.
        for (const p of ownedProcesses(join(d, ".hsu"))) {
          try {
            process.kill(-p.pid, "SIGKILL");
          } catch {
            try {
              process.kill(p.pid, "SIGKILL");
            } catch {
              // Gone already.
            }
          }
        }
        rmSync(d, { recursive: true, force: true });
      }
    },
  };
}

/** Polls `check` every 25 ms until it holds; fails naming `what` after `ms`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The state letter of /proc/PID/stat, or undefined when the process is gone. */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0];
  } catch {
    return undefined;
  }
}

/** Running (not gone, not a zombie waiting to be reaped). */
export function alive(pid: number): boolean {
  const s = procState(pid);
  return s !== undefined && s !== "Z" && s !== "X";
}

/**
 * The pid exists at all, a zombie included (`kill -0`): stricter than
 * `alive()` where "gone" must mean reaped too.
 */
export function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Live (not zombie) group leaders whose environment has `marker` (e.g.
 * `TEST_RUN=<id>`), by unit id: a replica's `<pool>-<index>` (HSU_POOL,
 * HSU_INDEX), else HSU_UNIT_ID ("" when it has none).
 */
export function markedUnits(marker: string): Map<string, number[]> {
  const found = new Map<string, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, "latin1").split("\0");
      if (!env.includes(marker)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, , pgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z" || Number(pgid) !== Number(name)) continue;
      const get = (k: string) => env.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1);
      const pool = get("HSU_POOL");
      const unit = (pool !== undefined ? `${pool}-${get("HSU_INDEX")}` : get("HSU_UNIT_ID")) ?? "";
      found.set(unit, [...(found.get(unit) ?? []), Number(name)]);
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

/**
 * The numbers N of the `line N` records in a unit's log files
 * (`<unit>.log`, `<unit>.log.1`, ...), oldest file first, in file order.
 */
export function loggedLineNumbers(logDir: string, unit: string): number[] {
  const files = readdirSync(logDir)
    .filter((n) => n === `${unit}.log` || n.startsWith(`${unit}.log.`))
    .sort((a, b) => (Number(b.split(".").pop()) || 0) - (Number(a.split(".").pop()) || 0));
  const out: number[] = [];
  for (const f of files) {
    for (const l of readFileSync(join(logDir, f), "utf8").split("\n")) {
      const m = / line (\d+)$/.exec(l);
      if (m) out.push(Number(m[1]));
    }
  }
  return out;
}
