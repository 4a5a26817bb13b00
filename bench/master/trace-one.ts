// Starts the hsu daemon with N units (all started), then runs `strace -f -tt` on it around one
// kill -9 of a unit (or a stop of every unit with --stop), to see what the daemon does, in order,
// between the signal and the respawn (or the last SIGTERM). For reading, not a figure.
//
//   node --conditions=@hsu/source bench/master/trace-one.ts [--units=N] [--stop] > trace.txt
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pollUntil } from "../supervisor/proc.ts";
import { startHsu } from "./hsu.ts";
import { killTree, unitsOf } from "./measure.ts";

const n = Number(process.argv.find((a) => a.startsWith("--units="))?.slice(8) ?? 20);
const root = mkdtempSync(join(tmpdir(), "hsu-trace-"));
let daemon = 0;
try {
  const hsu = startHsu(root, n, "dist");
  daemon = hsu.daemonPid;
  await hsu.startAll();
  await pollUntil(() => (unitsOf(daemon).length >= n ? true : undefined), 60_000);
  await new Promise((r) => setTimeout(r, 12_000)); // past the on-demand sampler's keep time
  const st = spawn("strace", ["-f", "-tt", "-e", "trace=!futex,epoll_pwait,epoll_wait,epoll_ctl,mprotect,madvise,munmap,mmap", "-p", String(daemon)], { stdio: ["ignore", "inherit", "inherit"] });
  await new Promise((r) => setTimeout(r, 1500));
  if (process.argv.includes("--stop")) {
    process.stderr.write(`stop all at ${new Date().toISOString()}\n`);
    await hsu.stopAll();
  } else {
    const victim = unitsOf(daemon)[0]!;
    const before = new Set(unitsOf(daemon));
    process.stderr.write(`kill -9 ${victim} at ${new Date().toISOString()}\n`);
    process.kill(victim, "SIGKILL");
    await pollUntil(() => unitsOf(daemon).find((p) => !before.has(p)), 30_000);
    await new Promise((r) => setTimeout(r, 300));
  }
  st.kill("SIGINT");
  await new Promise((r) => st.once("exit", r));
} finally {
  if (daemon) killTree(daemon);
  rmSync(root, { recursive: true, force: true });
}
