// What every archive format shares in extraction: the destination tree (names, types, links, limits,
// modes, errors; see extract.ts) and bounded readers of the archive's bytes.
import { chmodSync, closeSync, constants, fchmodSync, linkSync, mkdirSync, openSync, symlinkSync, write, writeSync } from "node:fs";
import { chmod, lstat, mkdir, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { type Gunzip, type InflateRaw } from "node:zlib";
import { HsuError, type HsuErrorCode } from "@hsu/client/hsu-error";
import type { ExtractResult } from "./extract.ts";

export const CHUNK = 256 * 1024;
export const ZLIB_CHUNK = 64 * 1024;
export const RATIO_GRACE = 1024 * 1024;
export const DEFAULT_RATIO = 200;
/** Cap on one pax header or GNU long name/link, which are held in memory. */
export const META_MAX = 1024 * 1024;
/** Cap on the zip central directory, which is held in memory. */
export const CD_MAX = 64 * 1024 * 1024;
export const NAME_MAX = 255;
export const PATH_MAX = 4095;
export const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
export const UNSAFE = "the archive is unsafe to extract: rebuild it without that entry";
export const DAMAGED = "the archive is damaged or incomplete: download or build it again";
export const utf8 = new TextDecoder("utf-8", { fatal: true });
/** Files up to this size are written with synchronous calls (see the Tree class). */
export const SYNC_WRITE_MAX = 64 * 1024;


/** Creates destDir 0755; true when the umask leaves 0755 and 0644 alone, so no chmod is needed after each create. */
export async function createDest(destDir: string, refuse: (code: HsuErrorCode, msg: string, cause?: unknown) => HsuError): Promise<boolean> {
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

export type Kind = "dir" | "implicit" | "file" | "symlink";

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
export class Tree {
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
export function normalize(name: string): string | { problem: string } {
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
export function symlinkProblem(rel: string, target: string): string | undefined {
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

export async function writeAll(fd: number, chunk: Buffer): Promise<void> {
  for (let off = 0; off < chunk.length; ) {
    off += await new Promise<number>((res, rej) => write(fd, chunk, off, chunk.length - off, null, (e, n) => (e ? rej(e) : res(n))));
  }
}

export async function writeAllSync(fd: number, chunk: Buffer): Promise<void> {
  for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
}

/** Bytes [start, end) of the file in chunks of up to CHUNK, each a fresh buffer the reader may keep. */
export async function* fileChunks(fh: FileHandle, start: number, end: number, tree: Tree): AsyncGenerator<Buffer> {
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
export async function* inflated(src: AsyncIterable<Buffer>, z: Gunzip | InflateRaw, tree: Tree, what: string, count: boolean): AsyncGenerator<Buffer> {
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
export class ByteReader {
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

