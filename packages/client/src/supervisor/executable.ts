import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";

/**
 * Finds the file `executable` names the way execvp does: a name with a slash
 * is taken as a path (relative to `cwd`), a bare name is looked up in each
 * directory of `pathEnv` in order. The file must be a regular file with an
 * execute bit for us. Returns the absolute path, or an explanation of why not.
 */
export function resolveExecutable(
  executable: string,
  options: { cwd: string; pathEnv: string | undefined },
): { path: string } | { error: string } {
  if (executable.length === 0) return { error: "is empty" };
  if (executable.includes("/")) {
    const full = isAbsolute(executable) ? executable : resolve(options.cwd, executable);
    const problem = checkExecutable(full);
    return problem ? { error: `"${full}" ${problem}` } : { path: full };
  }
  // An empty PATH entry means the current directory, as for execvp.
  const dirs = (options.pathEnv ?? "/usr/local/bin:/usr/bin:/bin").split(delimiter);
  let sawNonExecutable: string | undefined;
  for (const dir of dirs) {
    const full = resolve(options.cwd, join(dir || ".", executable));
    const problem = checkExecutable(full);
    if (!problem) return { path: full };
    if (problem !== "does not exist") sawNonExecutable ??= `"${full}" ${problem}`;
  }
  return {
    error: sawNonExecutable ?? `"${executable}" was not found in PATH (${dirs.join(delimiter) || "empty"})`,
  };
}

function checkExecutable(path: string): string | undefined {
  let st;
  try {
    st = statSync(path);
  } catch {
    return "does not exist";
  }
  if (!st.isFile()) return "is not a regular file";
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return "is not executable (no x permission): chmod +x it";
  }
  return undefined;
}

/** Paths found by {@link resolveExecutableCached}, by cwd, PATH and name. */
const resolved = new Map<string, string>();
const MAX_RESOLVED = 4096;

/**
 * {@link resolveExecutable} for a spawn that happens again and again (a
 * restart, start of many units): a bare name found once in PATH is not
 * looked up along PATH again while the file found is still a regular
 * executable file - one stat instead of one per PATH entry. As with a
 * shell's command hash, a file that later appears earlier in PATH is not
 * noticed until the one found is gone (or loses its x bit), which sends the
 * next call along PATH again. A name with a slash is checked every time.
 */
export function resolveExecutableCached(
  executable: string,
  options: { cwd: string; pathEnv: string | undefined },
): { path: string } | { error: string } {
  if (executable.includes("/")) return resolveExecutable(executable, options);
  const key = `${options.cwd}\0${options.pathEnv ?? ""}\0${executable}`;
  const known = resolved.get(key);
  if (known !== undefined && checkExecutable(known) === undefined) return { path: known };
  resolved.delete(key);
  const found = resolveExecutable(executable, options);
  if ("path" in found) {
    if (resolved.size >= MAX_RESOLVED) resolved.clear();
    resolved.set(key, found.path);
  }
  return found;
}
