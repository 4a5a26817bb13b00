// The artifact store under <state_dir>/artifacts/:
//   downloads/<sha256 of the URL>.part   a download in progress (resumable), + .meta
//   staging/<random>/                    an archive being extracted
//   trees/<sha256 of the archive>/       an extracted artifact: content-addressed, read-only, shared by units
//   units/<unit>/current -> ../../trees/<sha256>   what the unit runs, switched by one rename
//   units/<unit>/history.json            the versions installed, newest last
// Every step that makes something visible is a rename, so a crash at any
// point leaves either the old state or the new one, never a half tree.
import { HsuError } from "@hsu/client";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, readlinkSync, statSync } from "node:fs";
import { chmod, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** One installed version of a unit. */
export interface HistoryEntry {
  /** sha256 of the archive: the tree's name. */
  sha256: string;
  url: string;
  version?: string;
  /** The key that signed it, when a signature was checked. */
  keyId?: string;
  trustedComment?: string;
  /** ISO time of the install (or of the rollback that made it current again). */
  installedAt: string;
  /**
   * Set when `hsu rollback` (or a failed upgrade) made this version current
   * again: the version it left. `hsu install`, `up` and `apply` then hold the
   * unit here instead of installing that source again; `hsu upgrade` moves on.
   */
  rolledBackFrom?: { sha256: string; url: string; version?: string };
}

/** The paths of one store. */
export interface StorePaths {
  root: string;
  downloads: string;
  staging: string;
  trees: string;
  units: string;
}

/** The store's directories under a state dir. */
export function storePaths(stateDir: string): StorePaths {
  const root = join(stateDir, "artifacts");
  return { root, downloads: join(root, "downloads"), staging: join(root, "staging"), trees: join(root, "trees"), units: join(root, "units") };
}

/** The `current` link of a unit: what its command and cwd resolve through. */
export function currentLink(stateDir: string, unit: string): string {
  return join(storePaths(stateDir).units, unit, "current");
}

/** Creates the store's directories (0700: the trees are the code the master runs). */
export async function ensureStore(p: StorePaths): Promise<void> {
  for (const d of [p.root, p.downloads, p.staging, p.trees, p.units]) await mkdir(d, { recursive: true, mode: 0o700 });
}

/** The `.part` path a URL downloads into (one per URL, so a re-run resumes it). */
export function partPath(p: StorePaths, url: string): string {
  return join(p.downloads, `${createHash("sha256").update(url).digest("hex").slice(0, 32)}.part`);
}

/** A fresh directory name under staging/ (not created: the extractor creates it). */
export function stagingDir(p: StorePaths): string {
  return join(p.staging, `${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`);
}

/** Whether trees/<sha> is there. */
export async function hasTree(p: StorePaths, sha: string): Promise<boolean> {
  return (await stat(join(p.trees, sha)).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * Makes an extracted staging dir trees/<sha>, read-only, by one rename. If
 * another install got there first the staging copy is dropped: both are the
 * same bytes.
 */
export async function commitTree(p: StorePaths, staged: string, sha: string): Promise<void> {
  await readOnly(staged);
  try {
    await rename(staged, join(p.trees, sha));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
    await removeTree(staged);
  }
}

/** The sha256 the unit's `current` link points at, if any. */
export async function currentSha(p: StorePaths, unit: string): Promise<string | undefined> {
  try {
    const target = await readlink(join(p.units, unit, "current"));
    return /([0-9a-f]{64})$/.exec(target)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Whether the unit's `current` tree is the source hsu.yaml names now (the
 * pinned sha256, or the newest history entry from the same URL): read
 * synchronously, for the config checks that look at a source unit's program
 * only once its tree is the one it will run.
 */
export function isOnSourceSync(stateDir: string, unit: string, source: { url: string; sha256: string | undefined; index?: string | undefined }): boolean {
  const p = storePaths(stateDir);
  try {
    const cur = /([0-9a-f]{64})$/.exec(readlinkSync(join(p.units, unit, "current")))?.[1];
    if (!cur || !statSync(join(p.trees, cur)).isDirectory()) return false;
    // An index source is on whichever of its versions `hsu upgrade` installed.
    if (source.index !== undefined) return true;
    if (source.sha256) return source.sha256 === cur;
    const last = (JSON.parse(readFileSync(join(p.units, unit, "history.json"), "utf8")) as { versions?: HistoryEntry[] }).versions?.at(-1);
    return last?.sha256 === cur && last.url === source.url;
  } catch {
    return false;
  }
}

/** Points the unit's `current` at trees/<sha>: a symlink under a temporary name, renamed over the old one. */
export async function switchCurrent(p: StorePaths, unit: string, sha: string): Promise<void> {
  const dir = join(p.units, unit);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.current-${randomBytes(6).toString("hex")}`);
  await symlink(join("..", "..", "trees", sha), tmp);
  try {
    await rename(tmp, join(dir, "current"));
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** The unit's installed versions, newest last (empty when none). */
export async function readHistory(p: StorePaths, unit: string): Promise<HistoryEntry[]> {
  const file = join(p.units, unit, "history.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return [];
  }
  try {
    const v = JSON.parse(text) as { versions?: HistoryEntry[] };
    return Array.isArray(v.versions) ? v.versions.filter((e) => typeof e?.sha256 === "string" && /^[0-9a-f]{64}$/.test(e.sha256)) : [];
  } catch (e) {
    throw new HsuError("internal", `${file} is not valid JSON (${(e as Error).message}); remove it and run \`hsu install\` again`, { unit }, { cause: e });
  }
}

/**
 * Appends an installed version (an earlier entry of the same tree moves to
 * the end) and keeps the newest `keep`, written by tmp + rename.
 */
export async function recordInstall(p: StorePaths, unit: string, entry: HistoryEntry, keep: number): Promise<HistoryEntry[]> {
  const versions = [...(await readHistory(p, unit)).filter((e) => e.sha256 !== entry.sha256), entry].slice(-keep);
  const dir = join(p.units, unit);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.history-${randomBytes(6).toString("hex")}.json`);
  await writeFile(tmp, `${JSON.stringify({ versions }, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, join(dir, "history.json"));
  return versions;
}

/**
 * Removes every tree no unit's history or `current` names, and staging dirs
 * older than `staleMs` (left by a crash; a younger one may be in use).
 * Returns the trees removed.
 */
export async function collectGarbage(p: StorePaths, staleMs = 10 * 60_000): Promise<string[]> {
  const live = new Set<string>();
  for (const unit of await readdir(p.units).catch(() => [] as string[])) {
    for (const e of await readHistory(p, unit).catch(() => [])) live.add(e.sha256);
    const cur = await currentSha(p, unit);
    if (cur) live.add(cur);
    // Both ends of an upgrade in progress: the version to go back to must survive until it is over.
    for (const sha of await upgradeShas(p, unit)) live.add(sha);
  }
  const removed: string[] = [];
  for (const sha of await readdir(p.trees).catch(() => [] as string[])) {
    if (live.has(sha)) continue;
    await removeTree(join(p.trees, sha));
    removed.push(sha);
  }
  const now = Date.now();
  for (const name of await readdir(p.staging).catch(() => [] as string[])) {
    const st = await lstat(join(p.staging, name)).catch(() => undefined);
    if (st && now - st.mtimeMs > staleMs) await removeTree(join(p.staging, name));
  }
  return removed;
}

async function upgradeShas(p: StorePaths, unit: string): Promise<string[]> {
  try {
    const v = JSON.parse(await readFile(join(p.units, unit, "upgrade.json"), "utf8")) as { from?: unknown; to?: unknown };
    return [v.from, v.to].filter((s): s is string => typeof s === "string" && /^[0-9a-f]{64}$/.test(s));
  } catch {
    return [];
  }
}

/**
 * Whether process `pid` of a source unit runs from a tree of the store other
 * than the unit's `current` (its working directory is inside trees/<sha>):
 * a process a crashed master left running on the version a rollback moved
 * away from. Undefined when that cannot be told (a cwd outside the store).
 */
export function runsOtherTree(stateDir: string, unit: string, pid: number): boolean | undefined {
  const p = storePaths(stateDir);
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    const inTree = cwd.startsWith(`${p.trees}/`) ? cwd.slice(p.trees.length + 1).split("/")[0] : undefined;
    if (!inTree) return undefined;
    const cur = /([0-9a-f]{64})$/.exec(readlinkSync(join(p.units, unit, "current")))?.[1];
    return cur !== undefined && cur !== inTree;
  } catch {
    return undefined;
  }
}

/** Removes a tree that was made read-only: its directories get their write bit back first. */
export async function removeTree(dir: string): Promise<void> {
  await walkDirs(dir, (d) => chmod(d, 0o700));
  await rm(dir, { recursive: true, force: true });
}

// Read-only after extraction: nothing the unit runs as can edit the code it runs from (root aside).
async function readOnly(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  for (const e of entries) {
    if (e.isSymbolicLink()) continue;
    const path = join(e.parentPath, e.name);
    const mode = (await lstat(path)).mode & 0o7777;
    await chmod(path, mode & ~0o222);
  }
  await chmod(dir, 0o555);
}

async function walkDirs(dir: string, fn: (d: string) => Promise<void>): Promise<void> {
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) return;
  await fn(dir);
  for (const e of await readdir(dir, { withFileTypes: true })) if (e.isDirectory()) await walkDirs(join(dir, e.name), fn);
}
