// Safe extraction of unit artifacts (tar, tar.gz, zip) on Node's own zlib, no other dependency.
// An archive is hostile until proven otherwise: every entry's name, type, link target, size and
// checksum is checked before it touches the disk; everything is created with O_EXCL|O_NOFOLLOW
// (mkdir/symlink/link never follow either) inside a directory this module made, and any failure
// removes that directory entirely. Memory stays bounded: data flows through in chunks of at most
// CHUNK bytes, and only metadata (pax headers, long names, the zip central directory) is buffered,
// each with its own cap.
import { chmodSync, closeSync, constants, fchmodSync, linkSync, mkdirSync, openSync, symlinkSync, write, writeSync } from "node:fs";
import { chmod, lstat, mkdir, open, rm, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { crc32, createGunzip, createInflateRaw, type Gunzip, type InflateRaw } from "node:zlib";
import { HsuError, type HsuErrorCode } from "@hsu/client/hsu-error";

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

const CHUNK = 256 * 1024;
const ZLIB_CHUNK = 64 * 1024;
const RATIO_GRACE = 1024 * 1024;
const DEFAULT_RATIO = 200;
/** Cap on one pax header or GNU long name/link, which are held in memory. */
const META_MAX = 1024 * 1024;
/** Cap on the zip central directory, which is held in memory. */
const CD_MAX = 64 * 1024 * 1024;
const NAME_MAX = 255;
const PATH_MAX = 4095;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const UNSAFE = "the archive is unsafe to extract: rebuild it without that entry";
const DAMAGED = "the archive is damaged or incomplete: download or build it again";
const utf8 = new TextDecoder("utf-8", { fatal: true });
/** Files up to this size are written with synchronous calls (see the Tree class). */
const SYNC_WRITE_MAX = 64 * 1024;

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

/** Creates destDir 0755; true when the umask leaves 0755 and 0644 alone, so no chmod is needed after each create. */
async function createDest(destDir: string, refuse: (code: HsuErrorCode, msg: string, cause?: unknown) => HsuError): Promise<boolean> {
  try {
    await mkdir(dirname(destDir), { recursive: true, mode: 0o755 });
    await mkdir(destDir, 0o755);
    if (((await lstat(destDir)).mode & 0o7777) === 0o755) return true;
    await chmod(destDir, 0o755);
    return false;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      throw refuse("already_exists", `the destination ${destDir} exists already; extraction needs a new directory (remove it or choose another)`, e);
    }
    throw refuse("failed_precondition", `cannot create the destination ${destDir}: ${(e as Error).message}`, e);
  }
}

type Kind = "dir" | "implicit" | "file" | "symlink";

/**
 * The destination being built: every path it holds, the limits, and errors that name the entry.
 *
 * Creating things (mkdir, open, symlink, link, close) and writing files up to SYNC_WRITE_MAX use
 * synchronous calls: each takes microseconds on a local disk, where a thread-pool round trip per
 * call made archives of many small files (a node_modules tree) 5-8 times slower on a busy
 * machine. The event loop still gets control at every read of the archive (at least every 256
 * KiB), and bigger files are written asynchronously, so a disk under writeback pressure stalls
 * this extraction and not the process. Extract onto a local file system.
 */
class Tree {
  readonly result: ExtractResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  /** The archive's name of the entry being extracted, for messages. */
  entry: string | undefined;
  private readonly kinds = new Map<string, Kind>();
  private created = 0;
  private inflatedBytes = 0;
  private written = 0;
  readonly dest: string;
  private readonly archive: string;
  private readonly maxBytes: number;
  private readonly maxEntries: number;
  private readonly ratio: number;
  private readonly inflateLimit: number;
  /** Whether files and directories get their exact mode at creation (umask clears nothing of 0755). */
  private readonly exactModes: boolean;
  private readonly signal: AbortSignal | undefined;

  constructor(dest: string, archive: string, maxBytes: number, maxEntries: number, ratio: number, inflateLimit: number, exactModes: boolean, signal: AbortSignal | undefined) {
    this.exactModes = exactModes;
    this.dest = dest;
    this.archive = archive;
    this.maxBytes = maxBytes;
    this.maxEntries = maxEntries;
    this.ratio = ratio;
    this.inflateLimit = inflateLimit;
    this.signal = signal;
  }

  /** An HsuError about the current entry: what is wrong, then how to fix it. */
  fail(code: HsuErrorCode, what: string, fix: string, cause?: unknown): HsuError {
    const e = this.entry;
    const entry = e === undefined ? "" : `entry ${JSON.stringify(e.length > 512 ? `${e.slice(0, 256)}…${e.slice(-128)}` : e)}: `;
    return new HsuError(code, `${entry}${what}; ${fix}`, { file: this.archive }, { cause });
  }

  /** Anything thrown while extracting, as an HsuError naming the entry. */
  wrap(e: unknown): HsuError {
    if (HsuError.is(e)) return e;
    if (e instanceof Error && e.name === "AbortError") return this.fail("cancelled", "extraction was cancelled", `${this.dest} was removed`, e);
    return this.fail("internal", `extraction failed: ${e instanceof Error ? e.message : String(e)}`, `${this.dest} was removed`, e);
  }

  checkAbort(): void {
    if (this.signal?.aborted) throw this.fail("cancelled", `extraction into ${this.dest} was cancelled`, "nothing was kept", this.signal.reason);
  }

  /** Counts bytes out of a decompressor; a bomb stops here, at the limit, not at its end. */
  addInflated(n: number): void {
    this.inflatedBytes += n;
    if (this.inflatedBytes > this.inflateLimit) {
      throw this.fail(
        "resource_exhausted",
        `the archive inflates to more than ${this.ratio} times its size (${this.inflatedBytes} bytes so far): a decompression bomb`,
        "if the artifact is genuine, raise the extraction ratio limit (maxRatio)",
      );
    }
  }

  /** Refuses an archive whose own directory lists more entries or bytes than the limits allow. */
  declared(entries: number, bytes: number): void {
    if (entries > this.maxEntries) {
      throw this.fail("resource_exhausted", `the archive lists ${entries} entries, more than the limit of ${this.maxEntries}`, "if the artifact is genuine, raise the extraction entry limit (maxEntries)");
    }
    if (bytes > this.maxBytes) {
      throw this.fail("resource_exhausted", `the archive declares ${bytes} bytes of contents, more than the limit of ${this.maxBytes}`, "if the artifact is genuine, raise the extraction size limit (maxBytes)");
    }
  }

  /** Refuses a file whose size alone would pass maxBytes, before anything of it is written. */
  reserve(size: number): void {
    if (this.result.bytes + size > this.maxBytes) {
      throw this.fail("resource_exhausted", `its size ${size} would bring the contents past the limit of ${this.maxBytes} bytes`, "if the artifact is genuine, raise the extraction size limit (maxBytes)");
    }
  }

  async dir(name: string): Promise<void> {
    const rel = this.path(name);
    if (rel === "") return;
    if (this.kinds.get(rel) === "implicit") {
      this.kinds.set(rel, "dir");
      return;
    }
    this.claim(rel);
    await this.parents(rel);
    await this.mkdir(rel, "dir");
  }

  /** Writes a regular file from `data`; mode keeps only whether it is executable. */
  async file(name: string, mode: number, size: number, data: AsyncIterable<Buffer>): Promise<void> {
    const rel = this.path(name);
    this.claim(rel);
    this.reserve(size);
    await this.parents(rel);
    this.count();
    const perm = mode & 0o111 ? 0o755 : 0o644;
    const small = size <= SYNC_WRITE_MAX;
    const fd = await this.io(async () => openSync(join(this.dest, rel), WRITE_FLAGS, perm), rel);
    this.kinds.set(rel, "file");
    this.result.files++;
    let ok = false;
    let mine = 0;
    try {
      for await (const chunk of data) {
        this.checkAbort();
        this.result.bytes += chunk.length;
        if (this.result.bytes > this.maxBytes) {
          throw this.fail("resource_exhausted", `the contents pass the limit of ${this.maxBytes} bytes`, "if the artifact is genuine, raise the extraction size limit (maxBytes)");
        }
        await this.io(() => (small ? writeAllSync(fd, chunk) : writeAll(fd, chunk)), rel, mine);
        mine += chunk.length;
        this.written += chunk.length;
      }
      if (!this.exactModes) await this.io(async () => fchmodSync(fd, perm), rel, mine);
      ok = true;
    } finally {
      try {
        closeSync(fd);
      } catch (e) {
        if (ok) throw this.ioError(e, rel, mine);
      }
    }
  }

  async symlink(name: string, target: string): Promise<void> {
    const rel = this.path(name);
    this.claim(rel);
    const bad = symlinkProblem(rel, target);
    if (bad) throw this.fail("invalid_argument", `symlink to ${JSON.stringify(target)}: ${bad}`, UNSAFE);
    await this.parents(rel);
    this.count();
    await this.io(async () => symlinkSync(target, join(this.dest, rel)), rel);
    this.kinds.set(rel, "symlink");
    this.result.symlinks++;
  }

  /** A hard link, allowed only to a regular file extracted earlier from this archive. */
  async hardlink(name: string, target: string): Promise<void> {
    const rel = this.path(name);
    this.claim(rel);
    const to = normalize(target);
    if (typeof to !== "string" || this.kinds.get(to) !== "file") {
      const why = typeof to === "string" ? "it is not a regular file extracted before it" : to.problem;
      throw this.fail("invalid_argument", `hard link to ${JSON.stringify(target)}: ${why} (a hard link may only point at an earlier file of the archive)`, UNSAFE);
    }
    await this.parents(rel);
    this.count();
    await this.io(async () => linkSync(join(this.dest, to), join(this.dest, rel)), rel);
    this.kinds.set(rel, "file");
    this.result.files++;
  }

  private path(name: string): string {
    const rel = normalize(name);
    if (typeof rel !== "string") throw this.fail("invalid_argument", rel.problem, UNSAFE);
    return rel;
  }

  private claim(rel: string): void {
    if (rel === "") throw this.fail("invalid_argument", "it names the destination directory itself, as something other than a directory", UNSAFE);
    if (this.kinds.has(rel)) throw this.fail("invalid_argument", "a second entry with this path (one would overwrite the other)", UNSAFE);
  }

  private count(): void {
    if (++this.created > this.maxEntries) {
      throw this.fail("resource_exhausted", `more than ${this.maxEntries} entries`, "if the artifact is genuine, raise the extraction entry limit (maxEntries)");
    }
  }

  /**
   * Creates missing parent directories; a parent that is a symlink or a file is refused. Walks up
   * only to the nearest existing directory: its own parents were checked when it was made, and
   * what a path is never changes (a second entry for it is refused).
   */
  private async parents(rel: string): Promise<void> {
    const missing: string[] = [];
    for (let at = rel.lastIndexOf("/"); at > 0; at = rel.lastIndexOf("/", at - 1)) {
      const p = rel.slice(0, at);
      const k = this.kinds.get(p);
      if (k === "symlink") throw this.fail("invalid_argument", `its path goes through the symlink ${JSON.stringify(p)} extracted before it`, UNSAFE);
      if (k === "file") throw this.fail("invalid_argument", `its parent ${JSON.stringify(p)} is a file extracted before it`, UNSAFE);
      if (k !== undefined) break;
      missing.push(p);
    }
    for (let i = missing.length - 1; i >= 0; i--) await this.mkdir(missing[i]!, "implicit");
  }

  private async mkdir(rel: string, kind: "dir" | "implicit"): Promise<void> {
    this.count();
    const abs = join(this.dest, rel);
    await this.io(async () => {
      mkdirSync(abs, 0o755);
      if (!this.exactModes) chmodSync(abs, 0o755);
    }, rel);
    this.kinds.set(rel, kind);
    this.result.dirs++;
  }

  private async io<T>(op: () => Promise<T>, rel: string, mine?: number): Promise<T> {
    try {
      return await op();
    } catch (e) {
      throw this.ioError(e, rel, mine);
    }
  }

  private ioError(e: unknown, rel: string, mine: number | undefined): HsuError {
    if (HsuError.is(e)) return e;
    const code = (e as NodeJS.ErrnoException).code;
    const where = join(this.dest, rel);
    if (code === "ENOSPC" || code === "EDQUOT") {
      const ofFile = mine === undefined ? "" : ` (${mine} of this file)`;
      return this.fail(
        "resource_exhausted",
        `disk full (${code}) writing ${where} after ${this.written} bytes were written${ofFile}; ${this.dest} was removed`,
        `free space on the file system of ${this.dest} (or raise its quota) and extract again`,
        e,
      );
    }
    if (code === "EEXIST") return this.fail("invalid_argument", `${where} exists already (two names for one file on a case-insensitive file system?)`, UNSAFE, e);
    if (code === "ENAMETOOLONG") return this.fail("invalid_argument", "its path is too long for the file system", UNSAFE, e);
    return this.fail("internal", `cannot write ${where}: ${(e as Error).message}`, `check the file system of ${this.dest}`, e);
  }
}

/** `name` as a clean path relative to the destination ("" for the destination itself), or why it is refused. */
function normalize(name: string): string | { problem: string } {
  if (name.includes("\0")) return { problem: "its name contains a NUL byte" };
  if (name.includes("\\")) return { problem: "its name contains a backslash (archives use /)" };
  if (name.startsWith("/")) return { problem: "its path is absolute" };
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return { problem: 'its path has a ".." component' };
  if (parts.some((p) => Buffer.byteLength(p) > NAME_MAX)) return { problem: `a component of its path is longer than ${NAME_MAX} bytes` };
  const rel = parts.join("/");
  if (Buffer.byteLength(rel) > PATH_MAX) return { problem: `its path is longer than ${PATH_MAX} bytes` };
  return rel;
}

/**
 * Why a symlink at `rel` pointing at `target` could reach outside the destination, or undefined.
 * Allowed: relative targets whose `..` components all lead and climb no higher than the top.
 * Since every entry's parents are real directories (paths through symlinks are refused), a
 * chain of such links resolves inside too.
 */
function symlinkProblem(rel: string, target: string): string | undefined {
  if (target === "") return "the target is empty";
  if (target.includes("\0")) return "the target contains a NUL byte";
  if (target.includes("\\")) return "the target contains a backslash";
  if (target.startsWith("/")) return "the target is absolute";
  if (Buffer.byteLength(target) > PATH_MAX) return `the target is longer than ${PATH_MAX} bytes`;
  const parts = target.split("/").filter((p) => p !== "" && p !== ".");
  let up = 0;
  while (parts[up] === "..") up++;
  if (parts.slice(up).includes("..")) return 'a ".." follows a name in the target';
  if (up > rel.split("/").length - 1) return "the target points outside the destination";
  return undefined;
}

async function writeAll(fd: number, chunk: Buffer): Promise<void> {
  for (let off = 0; off < chunk.length; ) {
    off += await new Promise<number>((res, rej) => write(fd, chunk, off, chunk.length - off, null, (e, n) => (e ? rej(e) : res(n))));
  }
}

async function writeAllSync(fd: number, chunk: Buffer): Promise<void> {
  for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
}

/** Bytes [start, end) of the file in chunks of up to CHUNK, each a fresh buffer the reader may keep. */
async function* fileChunks(fh: FileHandle, start: number, end: number, tree: Tree): AsyncGenerator<Buffer> {
  let pos = start;
  while (pos < end) {
    tree.checkAbort();
    const want = Math.min(CHUNK, end - pos);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await fh.read(buf, 0, want, pos);
    if (bytesRead === 0) throw tree.fail("failed_precondition", "the archive file got shorter while it was read", "do not change an archive while it is extracted");
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

/** `src` through a zlib decompressor, with backpressure; zlib's errors become "damaged". */
async function* inflated(src: AsyncIterable<Buffer>, z: Gunzip | InflateRaw, tree: Tree, what: string, count: boolean): AsyncGenerator<Buffer> {
  const input = Readable.from(src, { objectMode: false, highWaterMark: ZLIB_CHUNK });
  input.on("error", (e) => z.destroy(e));
  input.pipe(z);
  try {
    for await (const chunk of z as AsyncIterable<Buffer>) {
      if (count) tree.addInflated(chunk.length);
      yield chunk;
    }
  } catch (e) {
    if (HsuError.is(e)) throw e;
    throw tree.fail("invalid_argument", `the ${what} data is damaged or truncated (zlib: ${(e as Error).message})`, DAMAGED, e);
  } finally {
    input.destroy();
    z.destroy();
  }
}

/** Reads exact byte counts from a stream of chunks, holding at most one chunk. */
class ByteReader {
  /** Bytes consumed so far. */
  offset = 0;
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Buffer>;
  private readonly truncated: () => HsuError;

  constructor(src: AsyncIterable<Buffer>, truncated: () => HsuError) {
    this.it = src[Symbol.asyncIterator]();
    this.truncated = truncated;
  }

  /** The next n bytes, or undefined when the stream ends right here; throws when it ends within them. */
  async read(n: number): Promise<Buffer | undefined> {
    if (this.buf.length >= n) return this.cut(n);
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      if (!(await this.fill())) {
        if (have === 0) return undefined;
        throw this.truncated();
      }
      const b = this.cut(Math.min(n - have, this.buf.length));
      parts.push(b);
      have += b.length;
    }
    return Buffer.concat(parts, n);
  }

  /** The next n bytes as the chunks arrive. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) throw this.truncated();
      const b = this.cut(Math.min(left, this.buf.length));
      left -= b.length;
      yield b;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n));
  }

  /** Everything left. */
  async *rest(): AsyncGenerator<Buffer> {
    while (await this.fill()) yield this.cut(this.buf.length);
  }

  /** Stops the source (its decompressor and file reads). */
  async close(): Promise<void> {
    await this.it.return?.();
  }

  private cut(n: number): Buffer {
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.offset += n;
    return b;
  }

  private async fill(): Promise<boolean> {
    while (this.buf.length === 0) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      this.buf = r.value;
    }
    return true;
  }
}

// ---- tar: ustar, pax (x/g), GNU (L/K long names, base-256 sizes) ----

interface TarHeader {
  name: string;
  mode: number;
  size: number;
  type: string;
  linkname: string;
}

async function readTar(src: AsyncIterable<Buffer>, tree: Tree): Promise<void> {
  const r = new ByteReader(src, () => tree.fail("invalid_argument", "the archive ends in the middle of an entry (truncated)", DAMAGED));
  try {
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    let metaBytes = 0; // of the headers before one entry: consecutive pax headers accumulate
    for (;;) {
      tree.checkAbort();
      const at = r.offset;
      const block = await r.read(512);
      if (block === undefined) throw tree.fail("invalid_argument", "the archive ends without its end-of-archive marker (truncated)", DAMAGED);
      if (isZeros(block)) {
        if (pax.size > 0 || longName !== undefined || longLink !== undefined) throw tree.fail("invalid_argument", "the archive ends after a pax or long-name header, without its entry", DAMAGED);
        tree.entry = undefined;
        return await endOfTar(r, tree);
      }
      const h = parseTarHeader(block, at, tree);
      tree.entry = h.name;
      if (h.type === "x" || h.type === "g" || h.type === "L" || h.type === "K") {
        metaBytes += h.size;
        if (metaBytes > META_MAX) throw tree.fail("resource_exhausted", `its pax and long-name headers pass ${META_MAX} bytes`, UNSAFE);
        const data = (await r.read(h.size)) ?? Buffer.alloc(0);
        if (data.length < h.size) throw tree.fail("invalid_argument", "the archive ends in a header (truncated)", DAMAGED);
        await r.skip(padding(h.size));
        if (h.type === "x") for (const [k, v] of parsePax(data, tree)) pax.set(k, v);
        else if (h.type === "L") longName = cString(data, 0, data.length, tree);
        else if (h.type === "K") longLink = cString(data, 0, data.length, tree);
        continue; // global (g) headers set defaults this reader has no use for
      }
      if ([...pax.keys()].some((k) => k.startsWith("GNU.sparse."))) throw tree.fail("unsupported", "a sparse file", "rebuild the archive without --sparse");
      const name = pax.get("path") ?? longName ?? h.name;
      const target = pax.get("linkpath") ?? longLink ?? h.linkname;
      let size = h.size;
      const paxSize = pax.get("size");
      if (paxSize !== undefined) {
        if (!/^\d{1,16}$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) throw tree.fail("invalid_argument", `bad pax size ${JSON.stringify(paxSize)}`, DAMAGED);
        size = Number(paxSize);
      }
      pax = new Map();
      longName = longLink = undefined;
      metaBytes = 0;
      tree.entry = name;
      await tarEntry(r, tree, { ...h, name, linkname: target, size });
    }
  } finally {
    await r.close();
  }
}

async function tarEntry(r: ByteReader, tree: Tree, h: TarHeader): Promise<void> {
  switch (h.type) {
    case "0":
    case "\0":
    case "7":
      if (h.name.endsWith("/") && h.size === 0) await tree.dir(h.name); // pre-POSIX directory
      else await tree.file(h.name, h.mode, h.size, r.take(h.size));
      break;
    case "5":
    case "D": // GNU dumpdir: a directory followed by a listing this reader skips
      await tree.dir(h.name);
      await r.skip(h.size);
      break;
    case "2":
      await tree.symlink(h.name, h.linkname);
      await r.skip(h.size);
      break;
    case "1":
      await tree.hardlink(h.name, h.linkname);
      await r.skip(h.size);
      break;
    case "3":
    case "4":
      throw tree.fail("invalid_argument", `a ${h.type === "3" ? "character" : "block"} device`, UNSAFE);
    case "6":
      throw tree.fail("invalid_argument", "a FIFO", UNSAFE);
    case "S":
      throw tree.fail("unsupported", "a sparse file", "rebuild the archive without --sparse");
    default:
      throw tree.fail("unsupported", `tar entry type ${JSON.stringify(h.type)} (only files, directories, symlinks and hard links are extracted)`, "rebuild the archive with GNU or POSIX tar");
  }
  await r.skip(padding(h.size));
}

function parseTarHeader(b: Buffer, at: number, tree: Tree): TarHeader {
  const nul = b.indexOf(0);
  tree.entry = b.toString("latin1", 0, nul >= 0 && nul < 100 ? nul : 100);
  const where = `the header at byte ${at}`;
  const stored = tarNumber(b, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  if (stored === undefined || (stored !== unsigned && stored !== signed)) {
    throw tree.fail("invalid_argument", `${where} fails its checksum (not a tar archive, or damaged)`, DAMAGED);
  }
  const magic = b.toString("latin1", 257, 263);
  const ustar = magic === "ustar\0";
  if (!ustar && magic !== "ustar ") throw tree.fail("invalid_argument", `${where} is not a ustar, pax or GNU tar header`, "rebuild the archive with GNU or POSIX tar");
  let name = cString(b, 0, 100, tree);
  const prefix = ustar ? cString(b, 345, 155, tree) : "";
  if (prefix !== "") name = `${prefix}/${name}`;
  const size = tarNumber(b, 124, 12);
  const mode = tarNumber(b, 100, 8);
  if (size === undefined || mode === undefined) throw tree.fail("invalid_argument", `${where} has a bad ${size === undefined ? "size" : "mode"} field`, DAMAGED);
  return { name, mode, size, type: String.fromCharCode(b[156]!), linkname: cString(b, 157, 100, tree) };
}

/** A tar numeric field: octal text (NUL/space padded) or GNU base-256; undefined when malformed. */
function tarNumber(b: Buffer, off: number, len: number): number | undefined {
  if (b[off]! & 0x80) {
    if (b[off] === 0xff) return undefined; // negative
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
    return Number.isSafeInteger(v) ? v : undefined;
  }
  const text = b.toString("latin1", off, off + len).replace(/[\0 ]+$/, "").replace(/^ +/, "");
  if (text === "") return 0;
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : undefined;
}

/** A NUL-terminated UTF-8 string in b[off, off+len). */
function cString(b: Buffer, off: number, len: number, tree: Tree): string {
  const end = b.indexOf(0, off);
  const bytes = b.subarray(off, end < 0 || end > off + len ? off + len : end);
  try {
    return utf8.decode(bytes);
  } catch {
    throw tree.fail("invalid_argument", `the name ${JSON.stringify(bytes.toString("latin1"))} is not UTF-8`, "rebuild the archive with UTF-8 file names");
  }
}

/** pax extended header records: "<len> <key>=<value>\n". */
function parsePax(b: Buffer, tree: Tree): Map<string, string> {
  const out = new Map<string, string>();
  let p = 0;
  while (p < b.length) {
    if (b[p] === 0) break; // NUL padding after the records
    const sp = b.indexOf(0x20, p);
    const len = sp < 0 ? NaN : Number(b.toString("latin1", p, sp));
    const end = p + len;
    if (!Number.isSafeInteger(len) || len <= sp - p || end > b.length || b[end - 1] !== 0x0a) throw tree.fail("invalid_argument", `a malformed pax record at byte ${p} of its header`, DAMAGED);
    const rec = b.subarray(sp + 1, end - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw tree.fail("invalid_argument", `a pax record without "=" at byte ${p} of its header`, DAMAGED);
    try {
      out.set(utf8.decode(rec.subarray(0, eq)), utf8.decode(rec.subarray(eq + 1)));
    } catch {
      throw tree.fail("invalid_argument", `a pax record at byte ${p} of its header is not UTF-8`, "rebuild the archive with UTF-8 file names");
    }
    p = end;
  }
  return out;
}

/** After the first zero block: a second one, then nothing but zero padding. */
async function endOfTar(r: ByteReader, tree: Tree): Promise<void> {
  const second = await r.read(512);
  if (second === undefined) throw tree.fail("invalid_argument", "the archive ends inside its end-of-archive marker (truncated)", DAMAGED);
  if (!isZeros(second)) throw tree.fail("invalid_argument", `a lone zero block at byte ${r.offset - 1024} (the end-of-archive marker is two)`, DAMAGED);
  for await (const chunk of r.rest()) {
    if (!isZeros(chunk)) throw tree.fail("invalid_argument", "data after the end-of-archive marker", DAMAGED);
  }
}

const padding = (size: number) => (512 - (size % 512)) % 512;

function isZeros(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

// ---- zip: central directory, stored and deflate; zip64, encryption and multi-disk refused ----

interface ZipEntry {
  name: string;
  rawName: Buffer<ArrayBufferLike>;
  flags: number;
  method: number;
  time: number;
  date: number;
  crc: number;
  csize: number;
  usize: number;
  offset: number;
  /** Unix mode from the external attributes, when the archive was made on Unix. */
  mode: number | undefined;
  dataStart: number;
  dataEnd: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_DESCRIPTOR = 0x08074b50;
const NO_ZIP64 = "repack it without zip64 (under 4 GiB and 65535 entries, not streamed from stdin)";

async function readAt(fh: FileHandle, pos: number, len: number, tree: Tree): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  let have = 0;
  while (have < len) {
    const { bytesRead } = await fh.read(buf, have, len - have, pos + have);
    if (bytesRead === 0) throw tree.fail("invalid_argument", `a record at byte ${pos} runs past the end of the archive (truncated)`, DAMAGED);
    have += bytesRead;
  }
  return buf;
}

async function readZip(fh: FileHandle, size: number, tree: Tree): Promise<void> {
  const tailLen = Math.min(size, 22 + 0xffff);
  const tail = await readAt(fh, size - tailLen, tailLen, tree);
  let e = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_END && i + 22 + tail.readUInt16LE(i + 20) === tail.length) {
      e = i;
      break;
    }
  }
  if (e < 0) throw tree.fail("invalid_argument", "no end-of-central-directory record: not a zip archive, or truncated", DAMAGED);
  const endPos = size - tailLen + e;
  const [disk, cdDisk, onDisk, count] = [0, 2, 4, 6].map((o) => tail.readUInt16LE(e + 4 + o)) as [number, number, number, number];
  const cdSize = tail.readUInt32LE(e + 12);
  const cdOffset = tail.readUInt32LE(e + 16);
  const locator = endPos >= 20 && (await readAt(fh, endPos - 20, 4, tree)).readUInt32LE(0) === SIG_ZIP64_LOCATOR;
  if (locator || count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) throw tree.fail("unsupported", "a zip64 archive", NO_ZIP64);
  if (disk !== 0 || cdDisk !== 0 || onDisk !== count) throw tree.fail("unsupported", "a multi-disk (split) zip archive", "join it into one file");
  if (cdOffset + cdSize !== endPos) throw tree.fail("invalid_argument", `the central directory (${cdSize} bytes at ${cdOffset}) does not end where its end record begins (${endPos})`, DAMAGED);
  if (cdSize > CD_MAX) throw tree.fail("resource_exhausted", `a central directory of ${cdSize} bytes (more than ${CD_MAX})`, UNSAFE);
  tree.declared(count, 0);
  const cd = await readAt(fh, cdOffset, cdSize, tree);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    tree.checkAbort();
    const ent = centralEntry(cd, p, i, tree);
    p += 46 + cd.readUInt16LE(p + 28) + cd.readUInt16LE(p + 30) + cd.readUInt16LE(p + 32);
    entries.push(ent);
  }
  tree.entry = undefined;
  if (p !== cdSize) throw tree.fail("invalid_argument", `the central directory holds ${cdSize - p} bytes more than its ${count} entries`, DAMAGED);
  tree.declared(count, entries.reduce((sum, x) => sum + x.usize, 0));
  for (const ent of entries) await localHeader(fh, ent, cdOffset, tree);
  checkOverlaps(entries, tree);
  for (const ent of entries) {
    tree.entry = ent.name;
    await zipEntry(fh, ent, tree);
  }
}

function centralEntry(cd: Buffer, p: number, i: number, tree: Tree): ZipEntry {
  tree.entry = undefined;
  if (p + 46 > cd.length || cd.readUInt32LE(p) !== SIG_CENTRAL) throw tree.fail("invalid_argument", `central directory entry ${i} is missing or malformed`, DAMAGED);
  const nameLen = cd.readUInt16LE(p + 28);
  const end = p + 46 + nameLen + cd.readUInt16LE(p + 30) + cd.readUInt16LE(p + 32);
  if (end > cd.length) throw tree.fail("invalid_argument", `central directory entry ${i} runs past the directory`, DAMAGED);
  const rawName = cd.subarray(p + 46, p + 46 + nameLen);
  tree.entry = rawName.toString("latin1");
  let name: string;
  try {
    name = utf8.decode(rawName);
  } catch {
    throw tree.fail("invalid_argument", "its name is not UTF-8", "rebuild the archive with UTF-8 file names");
  }
  tree.entry = name;
  const madeBy = cd.readUInt16LE(p + 4) >> 8;
  const flags = cd.readUInt16LE(p + 8);
  const method = cd.readUInt16LE(p + 10);
  const ent: ZipEntry = {
    name,
    rawName,
    flags,
    method,
    time: cd.readUInt16LE(p + 12),
    date: cd.readUInt16LE(p + 14),
    crc: cd.readUInt32LE(p + 16),
    csize: cd.readUInt32LE(p + 20),
    usize: cd.readUInt32LE(p + 24),
    offset: cd.readUInt32LE(p + 42),
    mode: madeBy === 3 || madeBy === 19 ? cd.readUInt32LE(p + 38) >>> 16 : undefined,
    dataStart: 0,
    dataEnd: 0,
  };
  const zip64 = hasZip64Extra(cd.subarray(p + 46 + nameLen, p + 46 + nameLen + cd.readUInt16LE(p + 30)));
  if (zip64 || ent.csize === 0xffffffff || ent.usize === 0xffffffff || ent.offset === 0xffffffff || cd.readUInt16LE(p + 34) === 0xffff) throw tree.fail("unsupported", "a zip64 entry", NO_ZIP64);
  if (flags & 0x2041) throw tree.fail("unsupported", "an encrypted entry", "repack the archive without encryption (verify it with a signature instead)");
  if (method !== 0 && method !== 8) throw tree.fail("unsupported", `compression method ${method} (only stored and deflate are read)`, "repack the archive with deflate");
  if (cd.readUInt16LE(p + 34) !== 0) throw tree.fail("unsupported", "an entry on another disk", "join the archive into one file");
  if (method === 0 && ent.csize !== ent.usize) throw tree.fail("invalid_argument", `a stored entry with ${ent.csize} bytes compressed but ${ent.usize} uncompressed`, DAMAGED);
  return ent;
}

/** Checks the local header against the central one and finds where the data (and descriptor) lie. */
async function localHeader(fh: FileHandle, ent: ZipEntry, cdOffset: number, tree: Tree): Promise<void> {
  tree.entry = ent.name;
  tree.checkAbort();
  if (ent.offset + 30 > cdOffset) throw tree.fail("invalid_argument", `its local header offset ${ent.offset} is not before the central directory`, DAMAGED);
  const h = await readAt(fh, ent.offset, 30, tree);
  const mismatch = (what: string) => tree.fail("invalid_argument", `its local header (at byte ${ent.offset}) and central directory entry differ in ${what}`, DAMAGED);
  if (h.readUInt32LE(0) !== SIG_LOCAL) throw tree.fail("invalid_argument", `no local header at byte ${ent.offset}`, DAMAGED);
  const nameLen = h.readUInt16LE(26);
  const extraLen = h.readUInt16LE(28);
  const nameExtra = await readAt(fh, ent.offset + 30, nameLen + extraLen, tree);
  if (hasZip64Extra(nameExtra.subarray(nameLen)) || h.readUInt32LE(18) === 0xffffffff || h.readUInt32LE(22) === 0xffffffff) throw tree.fail("unsupported", "a zip64 entry", NO_ZIP64);
  if (h.readUInt16LE(6) !== ent.flags) throw mismatch("flags");
  if (h.readUInt16LE(8) !== ent.method) throw mismatch("compression method");
  if (h.readUInt16LE(10) !== ent.time || h.readUInt16LE(12) !== ent.date) throw mismatch("modification time");
  const descriptor = (ent.flags & 0x8) !== 0;
  for (const [off, v, what] of [[14, ent.crc, "CRC-32"], [18, ent.csize, "compressed size"], [22, ent.usize, "size"]] as const) {
    const local = h.readUInt32LE(off);
    if (local !== v && !(descriptor && local === 0)) throw mismatch(what);
  }
  const name = nameExtra.subarray(0, nameLen);
  if (!name.equals(ent.rawName)) throw mismatch(`name (${JSON.stringify(name.toString("latin1"))})`);
  ent.dataStart = ent.offset + 30 + nameLen + extraLen;
  ent.dataEnd = ent.dataStart + ent.csize;
  if (descriptor) {
    const d = await readAt(fh, ent.dataEnd, Math.min(16, Math.max(0, cdOffset - ent.dataEnd)), tree);
    const sig = d.length >= 16 && d.readUInt32LE(0) === SIG_DESCRIPTOR ? 4 : 0;
    if (d.length < sig + 12) throw tree.fail("invalid_argument", "its data descriptor runs into the central directory", DAMAGED);
    if (d.readUInt32LE(sig) !== ent.crc || d.readUInt32LE(sig + 4) !== ent.csize || d.readUInt32LE(sig + 8) !== ent.usize) throw tree.fail("invalid_argument", "its data descriptor and central directory entry differ", DAMAGED);
    ent.dataEnd += sig + 12;
  }
  if (ent.dataEnd > cdOffset) throw tree.fail("invalid_argument", "its data runs into the central directory", DAMAGED);
}

/** Whether extra fields hold a zip64 record (tag 1), whose sizes would replace the 32-bit ones. */
function hasZip64Extra(extra: Buffer): boolean {
  for (let p = 0; p + 4 <= extra.length; p += 4 + extra.readUInt16LE(p + 2)) if (extra.readUInt16LE(p) === 1) return true;
  return false;
}

/** Entries sharing bytes are how non-recursive zip bombs multiply one compressed block. */
function checkOverlaps(entries: ZipEntry[], tree: Tree): void {
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.offset < prev.dataEnd) {
      tree.entry = cur.name;
      throw tree.fail("invalid_argument", `its bytes overlap entry ${JSON.stringify(prev.name)} (a zip bomb, or damaged)`, UNSAFE);
    }
  }
}

async function zipEntry(fh: FileHandle, ent: ZipEntry, tree: Tree): Promise<void> {
  const type = ent.mode === undefined ? 0 : ent.mode & 0o170000;
  if (ent.name.endsWith("/") || type === 0o040000) {
    if (type !== 0 && type !== 0o040000) throw tree.fail("invalid_argument", "its name ends in / but its mode is not a directory's", DAMAGED);
    if (ent.usize !== 0) throw tree.fail("invalid_argument", `a directory with ${ent.usize} bytes of data`, DAMAGED);
    return tree.dir(ent.name);
  }
  switch (type) {
    case 0:
    case 0o100000:
      return tree.file(ent.name, ent.mode ?? 0o644, ent.usize, zipData(fh, ent, tree));
    case 0o120000: {
      if (ent.usize > PATH_MAX) throw tree.fail("invalid_argument", `a symlink target of ${ent.usize} bytes`, UNSAFE);
      const parts: Buffer[] = [];
      for await (const c of zipData(fh, ent, tree)) parts.push(c);
      let target: string;
      try {
        target = utf8.decode(Buffer.concat(parts));
      } catch {
        throw tree.fail("invalid_argument", "its symlink target is not UTF-8", UNSAFE);
      }
      return tree.symlink(ent.name, target);
    }
    case 0o020000:
    case 0o060000:
      throw tree.fail("invalid_argument", `a ${type === 0o020000 ? "character" : "block"} device`, UNSAFE);
    case 0o010000:
      throw tree.fail("invalid_argument", "a FIFO", UNSAFE);
    case 0o140000:
      throw tree.fail("invalid_argument", "a socket", UNSAFE);
    default:
      throw tree.fail("invalid_argument", `an unknown file type (mode ${ent.mode!.toString(8)})`, UNSAFE);
  }
}

/** The entry's contents, checked against its declared size and CRC-32 as they stream. */
async function* zipData(fh: FileHandle, ent: ZipEntry, tree: Tree): AsyncGenerator<Buffer> {
  const raw = fileChunks(fh, ent.dataStart, ent.dataStart + ent.csize, tree);
  const z = ent.method === 8 ? createInflateRaw({ chunkSize: ZLIB_CHUNK }) : undefined;
  let n = 0;
  let crc = 0;
  for await (const c of z ? inflated(raw, z, tree, "deflate", true) : raw) {
    if (!z) tree.addInflated(c.length);
    n += c.length;
    if (n > ent.usize) throw tree.fail("invalid_argument", `it unpacks to more than the ${ent.usize} bytes its header declares`, DAMAGED);
    crc = crc32(c, crc);
    yield c;
  }
  if (z && z.bytesWritten !== ent.csize) throw tree.fail("invalid_argument", `its deflate data ends after ${z.bytesWritten} of its ${ent.csize} bytes`, DAMAGED);
  if (n !== ent.usize) throw tree.fail("invalid_argument", `it unpacks to ${n} bytes, not the ${ent.usize} its header declares`, DAMAGED);
  if (crc !== ent.crc) throw tree.fail("invalid_argument", `CRC-32 mismatch (${hex(crc)}, header says ${hex(ent.crc)})`, DAMAGED);
}

const hex = (n: number) => n.toString(16).padStart(8, "0");
