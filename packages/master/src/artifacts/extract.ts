// Safe extraction of unit artifacts (tar, tar.gz, zip) on Node's own zlib, no other dependency.
// An archive is hostile until proven otherwise: every entry's name, type, link target, size and
// checksum is checked before it touches the disk; everything is created with O_EXCL|O_NOFOLLOW
// (mkdir/symlink/link never follow either) inside a directory this module made, and any failure
// removes that directory entirely. Memory stays bounded: data flows through in chunks of at most
// CHUNK bytes, and only metadata (pax headers, long names, the zip central directory) is buffered,
// each with its own cap.
import { constants } from "node:fs";
import { open, rm, type FileHandle } from "node:fs/promises";
import { createGunzip } from "node:zlib";
import { HsuError, type HsuErrorCode } from "@hsu/client/hsu-error";
import { readTar } from "./extract-tar.ts";
import { DEFAULT_RATIO, RATIO_GRACE, Tree, ZLIB_CHUNK, createDest, fileChunks, inflated } from "./extract-tree.ts";
import { readZip } from "./extract-zip.ts";

/** The archive formats `extractArchive` reads. */
export type ArchiveFormat = "tar.gz" | "tgz" | "tar" | "zip";

/** Bounds on what one archive may unpack to; exceeding any is refused with `resource_exhausted`. */
export interface ExtractLimits {
  /** Total bytes of file contents, counted as they are written (headers are never trusted). */
  maxBytes: number;
  /** Files, directories (including ones implied by a path) and links created. */
  maxEntries: number;
  /** Bytes inflated / archive size, checked once more than 1 MiB has been inflated (default 200). */
  maxRatio?: number;
}

/** What `extractArchive` created. Hard links count as files; `bytes` is file contents written. */
export interface ExtractResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

/** The format a file name or URL names by its extension (`.tar.gz`, `.tgz`, `.tar`, `.zip`), if any. */
export function archiveFormatOf(nameOrUrl: string): ArchiveFormat | undefined {
  let path = nameOrUrl;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(nameOrUrl)) {
    try {
      path = new URL(nameOrUrl).pathname;
    } catch {
      path = nameOrUrl.replace(/[?#].*$/s, "");
    }
  }
  const lower = path.toLowerCase();
  for (const f of ["tar.gz", "tgz", "tar", "zip"] as const) if (lower.endsWith(`.${f}`)) return f;
  return undefined;
}

/**
 * Extracts archive into destDir, which must not exist yet (created 0755); on any error destDir is
 * removed entirely and an HsuError is thrown naming the archive and the entry.
 *
 * Refused: absolute names, `..` components, NUL or backslash in names, names that are not UTF-8,
 * paths through an earlier symlink or file, duplicate paths, symlinks whose target is absolute or
 * climbs out of destDir (or has a `..` after a name), hard links to anything but an earlier regular
 * file of the archive, devices, FIFOs, sockets, sparse files, encrypted or zip64 zips, and every
 * checksum, CRC or header mismatch. Files get 0755 when the archive gives any exec bit, else 0644;
 * directories 0755; setuid/setgid/sticky, owners and times are dropped. destDir's parent must not
 * be writable by other users (it is not re-checked while extracting).
 */
export async function extractArchive(
  archivePath: string,
  destDir: string,
  format: ArchiveFormat,
  limits: ExtractLimits,
  signal?: AbortSignal,
): Promise<ExtractResult> {
  const refuse = (code: HsuErrorCode, msg: string, cause?: unknown) => new HsuError(code, msg, { file: archivePath }, { cause });
  if (!["tar.gz", "tgz", "tar", "zip"].includes(format)) throw refuse("invalid_argument", `unknown archive format ${JSON.stringify(format)}; use tar.gz, tgz, tar or zip`);
  const ratio = limits.maxRatio ?? DEFAULT_RATIO;
  if (!(Number.isSafeInteger(limits.maxBytes) && limits.maxBytes > 0 && Number.isSafeInteger(limits.maxEntries) && limits.maxEntries > 0 && ratio > 0)) {
    throw refuse("invalid_argument", `extract limits must be positive (maxBytes=${limits.maxBytes}, maxEntries=${limits.maxEntries}, maxRatio=${ratio})`);
  }
  if (signal?.aborted) throw refuse("cancelled", `extraction into ${destDir} was cancelled before it started`, signal.reason);
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat below refuses it.
    fh = await open(archivePath, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === "ENOENT" ? "not_found" : "failed_precondition";
    throw refuse(code, `cannot open the archive: ${(e as Error).message}`, e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw refuse("failed_precondition", "the archive is not a regular file; give the path of a downloaded archive");
    const exactModes = await createDest(destDir, refuse);
    const tree = new Tree(destDir, archivePath, limits.maxBytes, limits.maxEntries, ratio, Math.max(RATIO_GRACE, ratio * st.size), exactModes, signal);
    try {
      if (format === "zip") {
        await readZip(fh, st.size, tree);
      } else {
        const raw = fileChunks(fh, 0, st.size, tree);
        await readTar(format === "tar" ? raw : inflated(raw, createGunzip({ chunkSize: ZLIB_CHUNK }), tree, "gzip", true), tree);
      }
      return { ...tree.result };
    } catch (e) {
      const err = tree.wrap(e);
      try {
        await rm(destDir, { recursive: true, force: true });
      } catch (re) {
        throw new HsuError(err.code, `${err.message}; removing ${destDir} failed too (${(re as Error).message}): remove it by hand`, {}, { cause: err });
      }
      throw err;
    }
  } finally {
    await fh.close();
  }
}

