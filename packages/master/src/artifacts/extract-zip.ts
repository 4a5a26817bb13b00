// Zip for extract.ts: central directory, stored and deflate; zip64, encryption and multi-disk refused.
import { type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { crc32, createInflateRaw } from "node:zlib";
import { CD_MAX, DAMAGED, PATH_MAX, Tree, UNSAFE, ZLIB_CHUNK, fileChunks, inflated, utf8 } from "./extract-tree.ts";

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

export async function readZip(fh: FileHandle, size: number, tree: Tree): Promise<void> {
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

