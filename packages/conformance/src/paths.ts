import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The monorepo root (the suite runs from a checkout). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** A directory under the repo's gitignored `.cache/`, created on first use. */
export function cacheDir(...parts: string[]): string {
  const dir = join(repoRoot, ".cache", ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}
