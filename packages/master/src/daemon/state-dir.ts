import { HsuError } from "@hsu/client";
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readlinkSync, realpathSync, type Stats } from "node:fs";

/**
 * Checks that `path` is a private directory of ours before the master puts
 * anything in it: a real directory (not a symlink to elsewhere), owned by
 * this user, writable by nobody else. A missing one is created (mode 0700)
 * unless `create` is false (`hsu validate` touches nothing).
 * Throws `invalid_config` naming `field` and the path otherwise.
 */
export function checkPrivateDir(path: string, field: string, create = true): void {
  const fail = (what: string, todo: string) => new HsuError("invalid_config", `${path} ${what}; ${todo}`, { field });
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw fail(`cannot be read (${(e as Error).message})`, "fix its permissions or choose another path");
    if (!create) return;
    try {
      mkdirSync(path, { recursive: true, mode: 0o700 });
      st = lstatSync(path);
    } catch (e2) {
      throw fail(`cannot be created (${(e2 as Error).message})`, "create it, or choose a path you can write");
    }
  }
  if (st.isSymbolicLink()) throw fail(`is a symlink (to ${readlinkSync(path)})`, "point it at the real directory");
  if (!st.isDirectory()) throw fail("exists and is not a directory", "remove it or choose another path");
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw fail(`is owned by uid ${st.uid}, not by you (uid ${uid})`, "use a directory of your own");
  if (st.mode & 0o022) {
    throw fail(`is writable by others (mode 0${(st.mode & 0o777).toString(8)})`, `\`chmod go-w ${path}\` (0700 is best), or choose another path`);
  }
}

/** Checks `master.state_dir` (see {@link checkPrivateDir}); creates it when missing. */
export function checkStateDir(stateDir: string): void {
  checkPrivateDir(stateDir, "master.state_dir");
}

/**
 * The marker a master puts in its units' environment (HSU_OWNER), derived
 * from its state dir: processes carrying it belong to that state dir's master.
 */
export function ownerMark(stateDir: string): string {
  return createHash("sha256").update(realpathSync(stateDir)).digest("hex").slice(0, 16);
}
