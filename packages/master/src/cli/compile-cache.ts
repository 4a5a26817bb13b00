import { lstatSync, mkdirSync } from "node:fs";
import * as nodeModule from "node:module";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Where the CLI keeps Node's compile cache: HSU_COMPILE_CACHE when set ("" or
 * "off" turns it off), else `$XDG_CACHE_HOME/hsu/compile-cache` or
 * `~/.cache/hsu/compile-cache`; a user without a home gets a directory of their
 * own in the temp dir, used only when it is theirs and nobody else can write
 * to it (cached code is run: another user must not be able to plant it).
 */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const set = env.HSU_COMPILE_CACHE;
  if (set !== undefined) return set === "" || set === "off" ? undefined : set;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "hsu", "compile-cache");
  const home = homedir();
  if (home && home !== "/" && lstatSync(home, { throwIfNoEntry: false })?.isDirectory()) return join(home, ".cache", "hsu", "compile-cache");
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const dir = join(tmpdir(), `hsu-compile-cache-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch {
    // Already there (checked below), or the temp dir is not writable: then no cache.
  }
  const st = lstatSync(dir, { throwIfNoEntry: false });
  return st?.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0 ? dir : undefined;
}

/**
 * Turns on Node's on-disk compile cache (Node >= 22.1) for the modules loaded
 * after this call, so a second `hsu` start skips compiling them. Never fails
 * the CLI: an unwritable or odd directory only means no cache.
 */
export function enableCompileCache(): void {
  try {
    const dir = compileCacheDir();
    if (dir !== undefined) nodeModule.enableCompileCache?.(dir);
  } catch {
    // No cache is a slower start, never a failure.
  }
}
