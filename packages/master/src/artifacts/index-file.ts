// `source.index`: a small JSON file listing a unit's versions,
//   { "versions": [{ "version": "1.2.0", "url": "app-1.2.0.tar.gz", "sha256": "...", "signature"?: "..." }] }
// (urls relative to the index). One entry is picked - the version asked for, or the newest by
// version order - and becomes a plain SourceConfig, installed and verified exactly as `url:` is.
// The index is not signed, so its sha256 guards only the transfer: the signature (checked with
// master.trusted_keys, which an index requires) is what says who made the artifact.
import { HsuError } from "@hsu/client";
import { archiveFormatOf } from "./archive.ts";
import { fetchSmall } from "./fetch.ts";
import type { SourceConfig } from "./source.ts";

/** An index is a list of versions: a MiB is thousands of them. */
const MAX_INDEX_BYTES = 1024 * 1024;

/** One version an index lists. */
export interface IndexEntry {
  version: string;
  url: string;
  sha256: string | undefined;
  signature: string | undefined;
}

/**
 * Orders versions "semver-ish": dot/dash separated parts, numbers by value, words by text;
 * a pre-release (1.2.0-rc.1) sorts before its release (1.2.0). Negative when a < b.
 */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const plain = v.replace(/^v/i, "").split("+")[0]!;
    const dash = plain.indexOf("-");
    return { main: (dash < 0 ? plain : plain.slice(0, dash)).split("."), pre: dash < 0 ? undefined : plain.slice(dash + 1).split(".") };
  };
  const parts = (x: string[], y: string[]) => {
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      const [p, q] = [x[i], y[i]];
      if (p === undefined) return -1;
      if (q === undefined) return 1;
      const [n, m] = [/^\d+$/.test(p) ? Number(p) : NaN, /^\d+$/.test(q) ? Number(q) : NaN];
      const c = !Number.isNaN(n) && !Number.isNaN(m) ? n - m : !Number.isNaN(n) ? -1 : !Number.isNaN(m) ? 1 : p < q ? -1 : p > q ? 1 : 0;
      if (c) return c;
    }
    return 0;
  };
  const [x, y] = [split(a), split(b)];
  const main = parts(x.main, y.main);
  if (main) return main;
  if (!x.pre || !y.pre) return x.pre ? -1 : y.pre ? 1 : 0;
  return parts(x.pre, y.pre);
}

/** Reads and checks an index (each problem names the entry). */
export function parseIndex(text: string, indexUrl: string): IndexEntry[] {
  const bad = (what: string) => new HsuError("failed_precondition", `${indexUrl}: ${what}; an index is {"versions": [{"version", "url", "sha256", "signature"?}]}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw bad(`not JSON (${(e as Error).message})`);
  }
  const versions = (v as { versions?: unknown })?.versions;
  if (!Array.isArray(versions)) throw bad("no versions list");
  return versions.map((e: unknown, i) => {
    const o = e as Record<string, unknown>;
    const str = (k: string) => (typeof o?.[k] === "string" && o[k] !== "" ? (o[k] as string) : undefined);
    const version = str("version");
    const url = str("url");
    if (!version || !url) throw bad(`versions[${i}] has no ${version ? "url" : "version"}`);
    const sha256 = str("sha256");
    if (sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(sha256)) throw bad(`versions[${i}] (${version}): sha256 is not 64 hex digits`);
    const abs = new URL(url, indexUrl).href;
    if (!/^(https?|file):$/.test(new URL(abs).protocol) || !archiveFormatOf(abs)) throw bad(`versions[${i}] (${version}): ${url} is not an http(s) or file: URL of a .tar.gz, .tgz, .tar or .zip`);
    const sig = str("signature");
    return { version, url: abs, sha256: sha256?.toLowerCase(), signature: sig === undefined ? undefined : new URL(sig, indexUrl).href };
  });
}

/**
 * The source of one version of an index: `version`, or the newest. Fetched with the source's
 * deadlines; the signature is the entry's, else url + ".minisig" (an index requires trusted keys).
 */
export async function resolveIndex(src: SourceConfig, version: string | undefined, signal?: AbortSignal): Promise<SourceConfig> {
  const indexUrl = src.index!;
  const text = await fetchSmall(indexUrl, { maxBytes: MAX_INDEX_BYTES, connectTimeoutMs: src.connectTimeoutMs, idleTimeoutMs: src.idleTimeoutMs, ...(signal ? { signal } : {}) }).catch((e: unknown) => {
    const err = HsuError.from(e);
    throw new HsuError("unavailable", `cannot get the index ${indexUrl}: ${err.message.replaceAll(`${indexUrl}: `, "")}`, {}, { cause: e });
  });
  const entries = parseIndex(text.toString("utf8"), indexUrl);
  if (!entries.length) throw new HsuError("failed_precondition", `${indexUrl} lists no versions`);
  // The newest release; a pre-release (1.2.0-rc.1) only when asked for by name, or when the index has nothing else.
  const releases = entries.filter((e) => !e.version.replace(/\+.*$/, "").includes("-"));
  const newest = (releases.length ? releases : entries).reduce((x, y) => (compareVersions(y.version, x.version) > 0 ? y : x));
  const pick = version === undefined ? newest : entries.find((e) => e.version === version);
  if (!pick) {
    const known = entries.map((e) => e.version).sort(compareVersions);
    throw new HsuError("not_found", `${indexUrl} has no version "${version}" (it lists ${known.slice(-10).join(", ")}${known.length > 10 ? ", ..." : ""})`);
  }
  return { ...src, url: pick.url, format: archiveFormatOf(pick.url)!, sha256: pick.sha256, signatureUrl: pick.signature ?? `${pick.url}.minisig`, version: pick.version };
}
