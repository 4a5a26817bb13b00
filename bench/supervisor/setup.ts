// Installs the pinned PM2 into the gitignored .cache/bench-tools (never into
// package.json) when it is not there yet, and says whether supervisord exists.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The PM2 release the benchmark is pinned to. */
export const pm2Version = "7.0.4";

const toolsDir = fileURLToPath(new URL("../../.cache/bench-tools/", import.meta.url));

/** Returns the PM2 package directory, installing PM2 first if needed. */
export function ensurePm2(): string {
  const dir = join(toolsDir, "node_modules", "pm2");
  const manifest = join(dir, "package.json");
  if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version === pm2Version) return dir;
  process.stderr.write(`installing pm2@${pm2Version} into ${toolsDir}\n`);
  const r = spawnSync("npm", ["install", "--prefix", toolsDir, `pm2@${pm2Version}`, "--no-audit", "--no-fund", "--no-save"], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.error || r.status !== 0) {
    throw new Error(`npm install pm2@${pm2Version} failed (${r.error?.message ?? `exit ${r.status}`}); is npm on PATH (source scripts/env.sh)?`);
  }
  return dir;
}

/** Whether supervisord is on PATH (Debian: apt-get install -y supervisor). */
export function hasSupervisord(): boolean {
  try {
    execFileSync("supervisord", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
