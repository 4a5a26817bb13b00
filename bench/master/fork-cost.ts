// What one `child_process.spawn` costs a Node parent as its anonymous memory grows: the floor
// under "start all" for any master whose units are its own children. Each round is a new Node
// process that first holds M MiB of touched memory (Buffers: anonymous pages, as a daemon's heap
// and buffers are), then spawns N `sleep` the way the spawn loop does (own process group, stdout
// and stderr piped, each awaited to its 'spawn' event, which libuv reports once the child exec'd),
// and reports its RssAnon, the wall time and its own CPU (user/sys) per spawn. Rounds alternate
// the sizes, so load drifts hit every size alike.
//
//   node bench/master/fork-cost.ts [--sizes=0,25,50,100,200] [--spawns=60] [--rounds=2]
import { spawn, spawnSync } from "node:child_process";
import { loadavg } from "node:os";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const sizes = (arg("sizes") ?? "0,25,50,100,200").split(",").map(Number);
const spawns = Number(arg("spawns") ?? 60);
const rounds = Number(arg("rounds") ?? 2);
if (sizes.some((s) => !Number.isInteger(s) || s < 0 || s > 1024) || !(spawns >= 1 && spawns <= 500) || !(rounds >= 1 && rounds <= 10)) {
  throw new Error("--sizes= takes MiB from 0 to 1024, --spawns= 1 to 500, --rounds= 1 to 10");
}

// The child: hold the memory, spawn, print one JSON line, SIGKILL every group it made.
const child = String.raw`
const { spawn } = require("node:child_process");
const { readFileSync } = require("node:fs");
const mb = Number(process.argv[1]), n = Number(process.argv[2]);
const keep = [];
for (let i = 0; i < mb; i++) keep.push(Buffer.alloc(1 << 20, 1));
const anon = () => Number(/RssAnon:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]) / 1024;
(async () => {
  const kids = [];
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const c = spawn("sleep", ["1000013"], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
      kids.push(c);
      await new Promise((resolve, reject) => (c.once("spawn", resolve), c.once("error", reject)));
    }
    const wall = (performance.now() - t0) / n;
    const u = process.cpuUsage(u0);
    process.stdout.write(JSON.stringify({ mb, anonMiB: anon(), wall, user: u.user / 1000 / n, sys: u.system / 1000 / n, held: keep.length }) + "\n");
  } finally {
    for (const c of kids) try { process.kill(-c.pid, "SIGKILL"); } catch {}
  }
  process.exit(0);
})();
`;

interface Row { mb: number; anonMiB: number; wall: number; user: number; sys: number }
const rows: Row[] = [];
process.stderr.write(`fork cost: ${spawns} spawns per size, sizes ${sizes.join(", ")} MiB, ${rounds} rounds (load ${loadavg()[0]!.toFixed(2)})\n`);
for (let r = 0; r < rounds; r++) {
  for (const mb of r % 2 ? [...sizes].reverse() : sizes) {
    const out = spawnSync(process.execPath, ["-e", child, String(mb), String(spawns)], { encoding: "utf8", timeout: 120_000, killSignal: "SIGKILL" });
    if (out.status !== 0) throw new Error(`round ${r} size ${mb}: ${out.stderr || out.signal}`);
    rows.push(JSON.parse(out.stdout) as Row);
  }
}
const f = (x: number) => x.toFixed(2);
process.stdout.write(`| held (MiB) | parent RssAnon (MiB) | wall per spawn (ms) | parent user (ms) | parent sys (ms) |\n| ---: | ---: | ---: | ---: | ---: |\n`);
for (const mb of sizes) {
  const of = rows.filter((x) => x.mb === mb);
  const col = (k: keyof Row) => of.map((x) => f(x[k])).join(", ");
  process.stdout.write(`| ${mb} | ${of.map((x) => x.anonMiB.toFixed(0)).join(", ")} | ${col("wall")} | ${col("user")} | ${col("sys")} |\n`);
}
process.stderr.write(`done (load ${loadavg()[0]!.toFixed(2)})\n`);
