// The floor for "start all" and "stop all": a bare Node loop that spawns N `sleep` processes
// (as a supervisor would: own process group, stdout and stderr piped) and then SIGTERMs them.
// Prints one JSON line: { startMs, stopMs }.
//
//   node bench/master/spawn-loop.ts <N> <sleep-arg>
import { spawn, type ChildProcess } from "node:child_process";

const n = Number(process.argv[2]);
const arg = process.argv[3]!;
const kids: ChildProcess[] = [];
const deadline = setTimeout(() => {
  for (const k of kids) k.kill("SIGKILL");
  process.stderr.write("spawn-loop: over its 60 s budget\n");
  process.exit(1);
}, 60_000);
const t0 = performance.now();
const spawned: Promise<void>[] = [];
const exited: Promise<void>[] = [];
for (let i = 0; i < n; i++) {
  const k = spawn("sleep", [arg], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  kids.push(k);
  spawned.push(new Promise((resolve, reject) => (k.once("spawn", resolve), k.once("error", reject))));
  exited.push(new Promise((resolve) => k.once("exit", () => resolve())));
}
await Promise.all(spawned);
const startMs = performance.now() - t0;
const t1 = performance.now();
for (const k of kids) k.kill("SIGTERM");
await Promise.all(exited);
const stopMs = performance.now() - t1;
clearTimeout(deadline);
process.stdout.write(`${JSON.stringify({ startMs, stopMs })}\n`);
