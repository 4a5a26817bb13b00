// A unit's `source:` with every default applied, and the trusted keys of
// `master.trusted_keys`: what the loader builds and the installer reads.
import { HsuError } from "@hsu/client";
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { archiveFormatOf, type ArchiveFormat } from "./archive.ts";
import { parsePublicKey, type PublicKey } from "./minisign.ts";

/** The defaults of `source:`. */
export const SOURCE_DEFAULTS = {
  maxBytes: 512 * 1024 * 1024,
  maxUnpackedBytes: 2 * 1024 * 1024 * 1024,
  maxFiles: 100_000,
  keep: 3,
  connectTimeoutMs: 15_000,
  idleTimeoutMs: 30_000,
} as const;

/** A unit's artifact, resolved: absolute URLs, sizes in bytes, durations in ms. */
export interface SourceConfig {
  /** The artifact's URL (https:, http: or file:; a relative file: path made absolute); "" for an index source until a version is picked. */
  readonly url: string;
  /** `source.index`: the JSON index of versions `hsu upgrade` picks from (absolute), instead of `url`. */
  readonly index: string | undefined;
  readonly format: ArchiveFormat;
  /** Lower-case hex, when pinned. */
  readonly sha256: string | undefined;
  /** Where the .minisig is, when a signature is checked (explicit, or url + ".minisig" with trusted keys). */
  readonly signatureUrl: string | undefined;
  readonly version: string | undefined;
  readonly maxBytes: number;
  readonly maxUnpackedBytes: number;
  readonly maxFiles: number;
  readonly keep: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** `master.trusted_keys[i]`: the key's text inline, or a file holding it (absolute). */
export type TrustedKeyRef = { readonly text: string } | { readonly file: string };

/** The raw `source:` as read from hsu.yaml. */
export interface RawSource {
  url?: string;
  index?: string;
  sha256?: string;
  signature?: string;
  version?: string;
  max_size?: number;
  max_unpacked?: number;
  max_files?: number;
  keep?: number;
  connect_timeout?: number;
  idle_timeout?: number;
}

/**
 * A URL as written in hsu.yaml made absolute: `file:` followed by a path
 * that does not start with "/" (`file:dist/app.tgz`) is relative to hsu.yaml's
 * directory; a bare path is too; anything with a scheme is kept.
 */
export function resolveUrl(written: string, baseDir: string): string {
  if (/^file:(?!\/)/.test(written)) return pathToFileURL(resolve(baseDir, written.slice(5))).href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(written)) return written;
  return pathToFileURL(isAbsolute(written) ? written : resolve(baseDir, written)).href;
}

/** The URL schemes an artifact may come from. */
export const SOURCE_URL = /^(https?:\/\/[^/\s]+|file:)\S*$/;

/** `source:` with defaults; `trusted`: whether master.trusted_keys has any key (then the signature is checked by default). */
export function sourceDefaults(raw: RawSource, baseDir: string, trusted: boolean): SourceConfig {
  const url = raw.url === undefined ? "" : resolveUrl(raw.url, baseDir);
  return {
    url,
    index: raw.index === undefined ? undefined : resolveUrl(raw.index, baseDir),
    format: archiveFormatOf(url) ?? "tar.gz",
    sha256: raw.sha256?.toLowerCase(),
    signatureUrl: raw.signature !== undefined ? resolveUrl(raw.signature, baseDir) : trusted && url ? `${url}.minisig` : undefined,
    version: raw.version,
    maxBytes: raw.max_size ?? SOURCE_DEFAULTS.maxBytes,
    maxUnpackedBytes: raw.max_unpacked ?? SOURCE_DEFAULTS.maxUnpackedBytes,
    maxFiles: raw.max_files ?? SOURCE_DEFAULTS.maxFiles,
    keep: raw.keep ?? SOURCE_DEFAULTS.keep,
    connectTimeoutMs: raw.connect_timeout ?? SOURCE_DEFAULTS.connectTimeoutMs,
    idleTimeoutMs: raw.idle_timeout ?? SOURCE_DEFAULTS.idleTimeoutMs,
  };
}

/** `master.trusted_keys` entries with files made absolute. */
export function trustedKeyRefs(raw: readonly (string | { file?: string })[] | undefined, baseDir: string): TrustedKeyRef[] {
  return (raw ?? []).map((k) => (typeof k === "string" ? { text: k } : { file: resolve(baseDir, k.file ?? "") }));
}

/** Reads and parses the trusted keys; an unreadable or malformed one is an HsuError naming master.trusted_keys[i]. */
export function loadTrustedKeys(refs: readonly TrustedKeyRef[]): PublicKey[] {
  return refs.map((ref, i) => {
    const field = `master.trusted_keys[${i}]`;
    let text: string;
    if ("file" in ref) {
      try {
        text = readFileSync(ref.file, "utf8");
      } catch (e) {
        throw new HsuError("invalid_config", `cannot read ${ref.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { field }, { cause: e });
      }
    } else text = ref.text;
    try {
      return parsePublicKey(text, "file" in ref ? { file: ref.file } : {});
    } catch (e) {
      throw new HsuError("invalid_config", `not a minisign public key (${(e as Error).message}); give the key's base64 line (RW...) or { file: key.pub }`, { field }, { cause: e });
    }
  });
}
