// Installs a unit's `source:`: fetch (resumable, capped, with deadlines) ->
// sha256 pin -> minisign signature -> extract into staging -> rename into
// trees/<sha256> -> record history -> switch `current`. Nothing is extracted
// before the artifact is verified, and `current` moves only at the very end,
// so any failure leaves the unit on the version it had.
import { HsuError } from "@hsu/client";
import type { Deployment, UnitConfig } from "../config/defaults.ts";
import { acquireStateLock, lockHolder } from "../daemon/lock.ts";
import { extractArchive } from "./archive.ts";
import { fetchSmall, fetchToFile, removePart, type Fetched } from "./fetch.ts";
import { verifyFile, type PublicKey, type Verified } from "./minisign.ts";
import { loadTrustedKeys, type SourceConfig } from "./source.ts";
import {
  collectGarbage,
  commitTree,
  currentSha,
  ensureStore,
  hasTree,
  partPath,
  readHistory,
  recordInstall,
  stagingDir,
  storePaths,
  switchCurrent,
  type StorePaths,
} from "./store.ts";

/** A `.minisig` is a few hundred bytes; its trusted comment may be long, not this long. */
const MAX_SIGNATURE_BYTES = 64 * 1024;

/** Options of {@link installUnit} / {@link installSources}. */
export interface InstallOptions {
  /** Progress lines ("downloading ...", "verified ..."). */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** What an install did for one unit. */
export interface InstallOutcome {
  unit: string;
  /**
   * installed: fetched, verified, extracted; switched: the tree was in the store already; current: nothing
   * to do; held: `hsu rollback` moved the unit off this very source, so only `hsu upgrade` installs it again.
   */
  action: "installed" | "switched" | "current" | "held";
  sha256: string;
  url: string;
  version?: string;
  keyId?: string;
  bytes?: number;
  resumedFrom?: number;
  ms: number;
}

/** The units of `d` that have a `source:`, in hsu.yaml order. */
export function sourceUnits(d: Deployment): UnitConfig[] {
  return Object.values(d.units).filter((u) => u.source !== undefined);
}

/**
 * Installs the sources of `ids` (default: every unit with a `source:`) one
 * after the other; a unit already on its source is left alone. Stops at the
 * first failure, which names the unit (units before it stay installed).
 */
export async function installSources(d: Deployment, ids: readonly string[] | undefined, options: InstallOptions = {}): Promise<InstallOutcome[]> {
  const units = ids?.length ? ids.map((id) => pick(d, id)) : sourceUnits(d);
  const out: InstallOutcome[] = [];
  if (!units.length) return out;
  const lock = await lockStore(storePaths(d.master.stateDir));
  try {
    for (const u of units) out.push((await heldBack(d, u)) ?? (u.source!.index !== undefined ? await installFromIndex(d, u, options) : await installUnit(d, u, options)));
  } finally {
    lock.release();
  }
  return out;
}

/**
 * One installer at a time per store (a flock, dropped by the kernel if the
 * process dies): two would write the same `.part` file and collect each
 * other's trees. The second is refused at once, naming the first.
 */
export async function lockStore(p: StorePaths): Promise<{ release(): void }> {
  await ensureStore(p);
  try {
    return await acquireStateLock(p.root, { settleMs: 1_000 });
  } catch (e) {
    if (!HsuError.is(e, "already_exists")) throw e;
    const pid = lockHolder(p.root).pid;
    throw new HsuError("already_exists", `another install${pid ? ` (pid ${pid})` : ""} is writing the artifact store ${p.root}; wait for it to finish, then run this again`, {}, { cause: e });
  }
}

function pick(d: Deployment, id: string): UnitConfig {
  const u = d.units[id];
  if (!u) throw new HsuError("not_found", `no unit "${id}" in the spec (units: ${Object.keys(d.units).join(", ") || "none"})`);
  if (!u.source) throw new HsuError("invalid_argument", `unit "${id}" has no source: to install; give one (source: { url, sha256 }) or leave it out`, { unit: id });
  return u;
}

/** Installs one unit's source unless `current` already is it (the caller holds the store's lock: {@link installSources}). */
export async function installUnit(d: Deployment, unit: UnitConfig, options: InstallOptions = {}): Promise<InstallOutcome> {
  const src = unit.source!;
  const started = Date.now();
  const p = storePaths(d.master.stateDir);
  const log = options.log ?? (() => {});
  const base = { unit: unit.id, url: src.url, ...(src.version ? { version: src.version } : {}) };
  await ensureStore(p);
  const on = await onSource(p, unit.id, src);
  if (on) return { ...base, action: "current", sha256: on, ms: Date.now() - started };
  if (src.sha256 && src.index === undefined && (await hasTree(p, src.sha256))) {
    // A pinned tree already in the store was verified when it was made: switching needs no download.
    // Not so for a sha256 from an index, which is not signed: that version's own signature must hold.
    await finish(p, unit, src, src.sha256, undefined);
    return { ...base, action: "switched", sha256: src.sha256, ms: Date.now() - started };
  }
  const keys = src.signatureUrl ? trustedKeys(d, unit) : [];
  const part = partPath(p, src.url);
  log(`${unit.id}: downloading ${src.url}`);
  const fetched = await fetchToFile(src.url, part, {
    maxBytes: src.maxBytes,
    connectTimeoutMs: src.connectTimeoutMs,
    idleTimeoutMs: src.idleTimeoutMs,
    ...(options.signal ? { signal: options.signal } : {}),
  }).catch((e: unknown) => refuse(unit, "cannot download it", e));
  const verified = await verify(unit, src, part, fetched, keys, options.signal).catch(async (e: unknown) => {
    // A complete but bad file must not be resumed into "complete" again.
    await removePart(part);
    throw e;
  });
  log(`${unit.id}: ${fetched.bytes} bytes, sha256 ${fetched.sha256.slice(0, 12)}${verified ? `, signed by ${verified.keyId}` : ""}`);
  if (!(await hasTree(p, fetched.sha256))) {
    const staged = stagingDir(p);
    try {
      await extractArchive(part, staged, src.format, { maxBytes: src.maxUnpackedBytes, maxEntries: src.maxFiles }, options.signal);
    } catch (e) {
      await removePart(part);
      refuse(unit, "cannot extract it", e);
    }
    await commitTree(p, staged, fetched.sha256);
  }
  await removePart(part);
  await finish(p, unit, src, fetched.sha256, verified);
  log(`${unit.id}: installed ${src.version ?? fetched.sha256.slice(0, 12)}`);
  return {
    ...base,
    action: "installed",
    sha256: fetched.sha256,
    bytes: fetched.bytes,
    resumedFrom: fetched.resumedFrom,
    ...(verified ? { keyId: verified.keyId } : {}),
    ms: Date.now() - started,
  };
}

/**
 * An index source: a unit with an installed tree stays on it (`hsu upgrade` moves it); one with
 * none gets the index's newest version.
 */
async function installFromIndex(d: Deployment, unit: UnitConfig, options: InstallOptions): Promise<InstallOutcome> {
  const p = storePaths(d.master.stateDir);
  const cur = await currentSha(p, unit.id);
  if (cur && (await hasTree(p, cur))) {
    const e = (await readHistory(p, unit.id)).findLast((h) => h.sha256 === cur);
    return { unit: unit.id, action: "current", sha256: cur, url: e?.url ?? unit.source!.index!, ...(e?.version ? { version: e.version } : {}), ms: 0 };
  }
  const { resolveIndex } = await import("./index-file.ts");
  const source = await resolveIndex(unit.source!, undefined, options.signal).catch((e: unknown) => refuse(unit, "cannot pick a version", e));
  return installUnit(d, { ...unit, source }, options);
}

/** A unit rolled back from the source hsu.yaml still names stays where the rollback put it. */
async function heldBack(d: Deployment, unit: UnitConfig): Promise<InstallOutcome | undefined> {
  const src = unit.source!;
  const p = storePaths(d.master.stateDir);
  const last = (await readHistory(p, unit.id)).at(-1);
  const left = last?.rolledBackFrom;
  if (!last || !left || left.url !== src.url || (src.sha256 !== undefined && src.sha256 !== left.sha256)) return undefined;
  if ((await currentSha(p, unit.id)) !== last.sha256 || !(await hasTree(p, last.sha256))) return undefined;
  return { unit: unit.id, action: "held", sha256: last.sha256, url: last.url, ...(last.version ? { version: last.version } : {}), ms: 0 };
}

/** The sha256 of `current` when it already is this source (same URL, same pin, tree present). */
async function onSource(p: StorePaths, unit: string, src: SourceConfig): Promise<string | undefined> {
  const cur = await currentSha(p, unit);
  if (!cur || !(await hasTree(p, cur))) return undefined;
  if (src.sha256) return src.sha256 === cur ? cur : undefined;
  const last = (await readHistory(p, unit)).at(-1);
  return last?.sha256 === cur && last.url === src.url ? cur : undefined;
}

async function finish(p: StorePaths, unit: UnitConfig, src: SourceConfig, sha256: string, verified: Verified | undefined): Promise<void> {
  await recordInstall(
    p,
    unit.id,
    {
      sha256,
      url: src.url,
      ...(src.version ? { version: src.version } : {}),
      ...(verified ? { keyId: verified.keyId, trustedComment: verified.trustedComment } : {}),
      installedAt: new Date().toISOString(),
    },
    src.keep,
  );
  await switchCurrent(p, unit.id, sha256);
  await collectGarbage(p);
}

function trustedKeys(d: Deployment, unit: UnitConfig): PublicKey[] {
  const keys = loadTrustedKeys(d.master.trustedKeys);
  if (!keys.length) throw new HsuError("invalid_config", "a signature is checked but master.trusted_keys is empty: add the signer's public key", { unit: unit.id });
  return keys;
}

async function verify(unit: UnitConfig, src: SourceConfig, part: string, fetched: Fetched, keys: PublicKey[], signal: AbortSignal | undefined): Promise<Verified | undefined> {
  if (src.sha256 && fetched.sha256 !== src.sha256) {
    refuse(
      unit,
      "sha256 mismatch",
      new HsuError("permission_denied", `expected ${src.sha256} (source.sha256), got ${fetched.sha256}: the file is damaged or was replaced; if the new artifact is intended, put its sha256 in source.sha256`),
    );
  }
  if (!src.signatureUrl) return undefined;
  const text = await fetchSmall(src.signatureUrl, { maxBytes: MAX_SIGNATURE_BYTES, connectTimeoutMs: src.connectTimeoutMs, idleTimeoutMs: src.idleTimeoutMs, ...(signal ? { signal } : {}) }).catch((e: unknown) =>
    refuse(unit, `cannot get its signature ${src.signatureUrl} (sign it with \`minisign -S\` or \`hsu sign\` and publish the .minisig beside it, or set source.signature)`, e),
  );
  try {
    return await verifyFile(part, text.toString("utf8"), keys, { signatureFile: src.signatureUrl, legacyMaxBytes: 0 });
  } catch (e) {
    return refuse(unit, "signature check failed", HsuError.is(e) ? new HsuError(e.code, e.message.replaceAll(part, "the artifact"), {}, { cause: e }) : e);
  }
}

/** Throws the reason, said for the unit and its artifact, with what did not change. */
function refuse(unit: UnitConfig, what: string, cause: unknown): never {
  const e = HsuError.from(cause);
  const url = unit.source!.url || unit.source!.index!;
  throw new HsuError(
    // A bad artifact is not a mistake on the command line (exit 2): it is refused (exit 1).
    e.code === "internal" ? "unavailable" : e.code === "invalid_argument" || e.code === "invalid_config" ? "failed_precondition" : e.code,
    `${url}: ${what}: ${e.message.replaceAll(`${url}: `, "").replace(/\.$/, "")}. Nothing was installed; the unit keeps the version it had`,
    { unit: unit.id },
    { cause },
  );
}
