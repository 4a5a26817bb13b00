// What the slow suites need to drive the real `hsu` binary and look at the
// processes it leaves: one copy, so every suite runs the CLI the same way.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

/** The CLI entry point, run from source. */
export const hsuMain = join(import.meta.dirname, "..", "cli", "bin.ts");

/** How one `hsu` command ended. */
export interface HsuResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `hsu ...args` in `cwd` (no colours) and returns its exit code and output; never throws for a non-zero exit. */
export async function hsu(cwd: string, ...args: string[]): Promise<HsuResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--conditions=@hsu/source", hsuMain, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: undefined },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number | string; stdout: string; stderr: string };
    return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: `${err.stderr ?? ""}${typeof err.code === "string" ? ` (${err.code})` : ""}` };
  }
}

/** Temp project directories with an hsu.yaml; `removeAll()` deletes every one made. */
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
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
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

/** Live group leaders whose environment has `marker` (e.g. `TEST_RUN=<id>`), by HSU_UNIT_ID. */
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
      const unit = env.find((e) => e.startsWith("HSU_UNIT_ID="))?.slice("HSU_UNIT_ID=".length) ?? "";
      found.set(unit, [...(found.get(unit) ?? []), Number(name)]);
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}
