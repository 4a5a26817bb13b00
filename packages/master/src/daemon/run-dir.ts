import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";

/** Where a master's own Unix sockets live (the registrar, integrated units). */
export interface RunDir {
  readonly path: string;
  /** Removes a temporary run dir and its record; a run dir inside the state dir stays. */
  remove(): void;
}

// The record of a temporary run dir, so the next master removes what a crashed one left.
const RECORD = "run-dir";
const PREFIX = "hsu-run-";

/** True for a directory of ours that a master of this host created with mkdtemp under tmpdir(). */
function isOurTempRunDir(path: string): boolean {
  if (dirname(path) !== tmpdir() || !basename(path).startsWith(PREFIX)) return false;
  try {
    const st = lstatSync(path);
    return st.isDirectory() && !st.isSymbolicLink() && st.uid === process.getuid?.();
  } catch {
    return false;
  }
}

/**
 * The master's run dir: `<state dir>/run`, or, when socket paths there would
 * pass the 107-byte limit of Unix sockets, a private (0700) temp dir whose
 * path is recorded in the state dir. Call with the state dir's lock held: a
 * temp dir recorded by a previous master of this state dir (one that crashed)
 * is used again, so no second one is left behind and the sockets of units it
 * re-adopts stay where they were; it goes when this master exits.
 */
export function openRunDir(stateDir: string): RunDir {
  const run = join(stateDir, "run");
  if (Buffer.byteLength(join(run, "x".repeat(64) + ".sock")) < 107) {
    mkdirSync(run, { recursive: true, mode: 0o700 });
    return { path: run, remove: () => {} };
  }
  const record = join(stateDir, RECORD);
  let previous: string | undefined;
  try {
    previous = readFileSync(record, "utf8").trim();
  } catch {
    // No previous temp run dir.
  }
  // A crashed master's temp dir is taken over, not removed: re-adopted integrated units still listen in it.
  const path = previous && isOurTempRunDir(previous) ? previous : mkdtempSync(join(tmpdir(), PREFIX));
  if (path !== previous) writeFileSync(record, `${path}\n`, { mode: 0o600 });
  let removed = false;
  return {
    path,
    remove() {
      if (removed) return;
      removed = true;
      rmSync(path, { recursive: true, force: true });
      rmSync(record, { force: true });
    },
  };
}
