// Preloaded into the hsu daemon by the master benchmark (`node --import=<this> ... hsu up -d`;
// the daemon inherits the CLI's execArgv). Plain JavaScript so that loading it pulls in no
// TypeScript stripping. Nothing happens until the benchmark signals:
//   SIGUSR2  -> writes process.memoryUsage() and V8's heap statistics to $HSU_BENCH_PROBE.json
//   SIGWINCH -> writes a heap snapshot to $HSU_BENCH_PROBE.heapsnapshot
// With HSU_BENCH_PROBE_MODULES=1 it also counts the ES modules the daemon loads (a synchronous
// module.registerHooks load hook; off by default so the measured daemon carries no hook).
import { writeFileSync, renameSync } from "node:fs";
import { registerHooks } from "node:module";
import { getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from "node:v8";

const base = process.env.HSU_BENCH_PROBE;
// Only the master (node running the hsu CLI as `daemon`) answers; a CLI run ignores the signals.
if (base && process.argv.includes("daemon")) {
  /** @type {string[]} */
  const loaded = [];
  if (process.env.HSU_BENCH_PROBE_MODULES === "1")
    registerHooks({
      load(url, context, next) {
        loaded.push(url);
        return next(url, context);
      },
    });
  process.on("SIGUSR2", () => {
    const out = {
      memoryUsage: process.memoryUsage(),
      heap: getHeapStatistics(),
      spaces: getHeapSpaceStatistics().map((s) => ({ name: s.space_name, used: s.space_used_size, size: s.space_size })),
      // Node's own modules loaded so far (node:http, zlib, undici...): what the daemon's imports pulled in.
      builtins: process.moduleLoadList.filter((m) => m.startsWith("NativeModule ")).map((m) => m.slice(13)),
      handles: process.getActiveResourcesInfo().reduce((m, k) => ((m[k] = (m[k] ?? 0) + 1), m), {}),
      ...(loaded.length ? { modules: loaded } : {}),
    };
    writeFileSync(`${base}.json.tmp`, JSON.stringify(out));
    renameSync(`${base}.json.tmp`, `${base}.json`);
  });
  process.on("SIGWINCH", () => {
    writeHeapSnapshot(`${base}.heapsnapshot.tmp`);
    renameSync(`${base}.heapsnapshot.tmp`, `${base}.heapsnapshot`);
  });
}
