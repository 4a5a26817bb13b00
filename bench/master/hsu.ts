// The HSU side: the real `hsu` daemon, started by `hsu up -d` on a generated hsu.yaml
// whose N units have `auto_start: false`, so "start all" is measured on a master that
// is already up (as it is for PM2 and supervisord). Start and stop go over the master's
// control socket (one StartUnit / StopUnit request with `all`; HSU_BENCH_PER_UNIT=1: one per unit).
import { createClient } from "@connectrpc/connect";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { unitArg, type Side } from "./measure.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const probe = fileURLToPath(new URL("./probe.mjs", import.meta.url));

/**
 * How the CLI (and so the daemon, which inherits its flags) is run: the built dist, the TypeScript
 * sources, the npm bundle (dist/bundle/hsu.js) or the single executable (dist-sea/hsu, `pnpm
 * --filter @hsu/master build:sea`), whose Node flags can only come through NODE_OPTIONS.
 */
export const hsuBuilds = ["dist", "source", "bundle", "sea"] as const;
export type HsuBuild = (typeof hsuBuilds)[number];

export function hsuCli(build: HsuBuild, root = repo): { command: string; args: string[] } {
  const built = (path: string) => {
    const file = join(root, "packages/master", path);
    if (!existsSync(file)) throw new Error(`${file} is missing: build it first (pnpm turbo run build --filter=./packages/*${build === "sea" ? "; pnpm --filter @hsu/master build:sea" : ""})`);
    return file;
  };
  if (build === "dist") return { command: process.execPath, args: [built("dist/cli/bin.js")] };
  if (build === "bundle") return { command: process.execPath, args: [built("dist/bundle/hsu.js")] };
  if (build === "sea") return { command: built("dist-sea/hsu"), args: [] };
  return { command: process.execPath, args: ["--conditions=@hsu/source", join(root, "packages/master/src/cli/bin.ts")] };
}

export const unitIds = (n: number) => Array.from({ length: n }, (_, i) => `u${String(i).padStart(4, "0")}`);

export function writeSpec(dir: string, n: number): string {
  const units = unitIds(n)
    .map(
      (id) =>
        `  ${id}:\n    command: sleep\n    args: ["${unitArg}"]\n    auto_start: false\n    restart: { policy: always, delay: 0ms, breaker: { window: 1m, max_restarts: 10000 } }\n`,
    )
    .join("");
  const file = join(dir, "hsu.yaml");
  writeFileSync(file, `version: 1\nmaster:\n  id: mbench\nunits:\n${units}`);
  return file;
}

export interface HsuSide extends Side {
  /** Where the probe preloaded into the daemon writes (`<base>.json`, `<base>.heapsnapshot`). */
  probeBase: string;
  /** A CLI command line (`hsu <args> -f hsu.yaml`) for this side's spec. */
  cli(args: string[]): { command: string; args: string[] };
  close(): void;
}

/**
 * Starts the daemon (`hsu up -d`) and returns the side; `upMs` is how long `hsu up -d` took.
 * `nodeFlags` go to the CLI's node and so to the daemon's (it inherits execArgv), e.g. --cpu-prof.
 * `root` is the checkout whose build runs (another worktree, for an A/B of two commits).
 */
export function startHsu(dir: string, n: number, build: HsuBuild, nodeFlags: string[] = [], root = repo): HsuSide & { upMs: number } {
  const file = writeSpec(dir, n);
  const cli = hsuCli(build, root);
  const probeBase = join(dir, "probe");
  const env: NodeJS.ProcessEnv = { ...process.env, HSU_BENCH_PROBE: probeBase, NO_COLOR: "1" };
  // A single executable takes every argument as its own and preloads only with --require (of an ES module, as Node 24 allows).
  const flags = build === "sea" ? [] : [`--import=${probe}`, ...nodeFlags];
  if (build === "sea") env.NODE_OPTIONS = [`--require=${probe}`, ...nodeFlags].join(" ");
  const t = performance.now();
  const up = spawnSync(cli.command, [...flags, ...cli.args, "up", "-d", "-f", file], { cwd: dir, env, encoding: "utf8", timeout: 120_000 });
  const upMs = performance.now() - t;
  if (up.status !== 0) throw new Error(`hsu up -d failed (${up.status ?? up.signal}): ${up.stderr.slice(-2000)}`);
  const stateDir = join(dir, ".hsu");
  const daemonPid = Number(/pid (\d+)/.exec(up.stderr)?.[1] ?? readLockPid(stateDir));
  if (!daemonPid) throw new Error(`cannot tell the daemon's pid from: ${up.stderr}`);
  const c = createClient(ControlService, createUnitTransport(`unix:${join(stateDir, "control.sock")}`, { connectTimeoutMs: 5000 }));
  const ids = unitIds(n);
  const perUnit = process.env.HSU_BENCH_PER_UNIT === "1";
  const version = (JSON.parse(readFileSync(join(repo, "packages/master/package.json"), "utf8")) as { version: string }).version;
  return {
    name: "HSU",
    version: `hsu ${version} (${{ dist: "packages/master/dist", source: "TypeScript sources", bundle: "packages/master/dist/bundle", sea: "single executable packages/master/dist-sea/hsu" }[build]})`,
    daemonPid,
    upMs,
    probeBase,
    // One request for every unit, as supervisord's startProcessGroup / stopProcessGroup; HSU_BENCH_PER_UNIT=1
    // sends one call per unit, all in flight (what this bench did before the batch, and what an older master needs).
    startAll: () => (perUnit ? Promise.all(ids.map((id) => c.startUnit({ id }, { timeoutMs: 120_000 }))) : c.startUnit({ all: true }, { timeoutMs: 120_000 })),
    stopAll: () => (perUnit ? Promise.all(ids.map((id) => c.stopUnit({ id }, { timeoutMs: 120_000 }))) : c.stopUnit({ all: true }, { timeoutMs: 120_000 })),
    status: { command: cli.command, args: [...cli.args, "ps", "-f", file], cwd: dir, env: { ...process.env, NO_COLOR: "1" } },
    startOnly: { command: cli.command, args: [...cli.args, "--version"], cwd: dir, env: { ...process.env, NO_COLOR: "1" } },
    cli: (args) => ({ command: cli.command, args: [...cli.args, ...args, "-f", file] }),
    notes: [
      `the daemon started by \`hsu up -d\` (${build}), units \`auto_start: false\`, restart \`policy: always, delay: 0ms\``,
      perUnit
        ? "start / stop: StartUnit / StopUnit for every unit over the control socket, all in flight at once, from the benchmark process"
        : "start / stop: one StartUnit / StopUnit request with `all` over the control socket, from the benchmark process",
      "status: `hsu ps -f hsu.yaml` (a new CLI process) to its exit; `hsu --version` the same way, each run right after a `node -e ''`",
    ],
    close() {
      // Nothing to close on the client side: its HTTP/2 session dies with the daemon.
    },
  };
}

function readLockPid(stateDir: string): number {
  for (const f of ["master.pid", "lock"]) {
    try {
      const n = Number.parseInt(readFileSync(join(stateDir, f), "utf8"), 10);
      if (n > 0) return n;
    } catch {
      // Not this file.
    }
  }
  return 0;
}
