// The floors, measured in the same run as the sides: what Node itself costs.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { pollUntil, rssKib } from "../supervisor/proc.ts";
import { killTree, median, timeProcess, unitArg, type Sizes } from "./measure.ts";

export interface Floors {
  /** RSS of `node -e 'setInterval(()=>{},1e6)'`, 3 s after start (maximum of the samples). */
  bareRssKib: number;
  /** The same process's RssAnon / RssFile (KiB): what bare Node's RSS is made of. */
  bareRssAnonKib: number;
  bareRssFileKib: number;
  /** `node -e ''` to its exit, one entry per run. */
  bareStartMs: number[];
  /** A bare Node loop spawning N `sleep` (own process group, piped output) until every 'spawn' event. */
  spawnLoopMs: number;
  /** The same loop's SIGTERM to every 'exit' event. */
  killLoopMs: number;
}

export async function measureFloors(s: Sizes, cwd: string): Promise<Floors> {
  const idle = spawn(process.execPath, ["-e", "setInterval(()=>{},1e6)"], { stdio: "ignore", detached: true });
  let bareRssKib = 0;
  let bareRssAnonKib = 0;
  let bareRssFileKib = 0;
  try {
    await pollUntil(() => (idle.pid && rssKib(idle.pid) > 0 ? true : undefined), 10_000, 10);
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 500));
      bareRssKib = Math.max(bareRssKib, rssKib(idle.pid!));
    }
    const status = readFileSync(`/proc/${idle.pid}/status`, "utf8");
    bareRssAnonKib = Number(/^RssAnon:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    bareRssFileKib = Number(/^RssFile:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  } finally {
    killTree(idle.pid!);
  }
  const bareStartMs: number[] = [];
  for (let i = 0; i < s.psRuns; i++) bareStartMs.push(await timeProcess(process.execPath, ["-e", ""], cwd, undefined, 30_000, false));

  const loop = spawn(process.execPath, [fileURLToPath(new URL("./spawn-loop.ts", import.meta.url)), String(s.units), unitArg], {
    stdio: ["ignore", "pipe", "inherit"],
    detached: true,
  });
  let out = "";
  loop.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c));
  const code = await new Promise<number | null>((resolve) => loop.once("exit", resolve));
  killTree(loop.pid!);
  if (code !== 0) throw new Error(`the spawn loop exited with ${code}`);
  const r = JSON.parse(out.trim()) as { startMs: number; stopMs: number };
  return { bareRssKib, bareRssAnonKib, bareRssFileKib, bareStartMs, spawnLoopMs: r.startMs, killLoopMs: r.stopMs };
}

export { median };
