// Tar for extract.ts: ustar, pax (x/g) and GNU (L/K long names, base-256 sizes), every header checked.
import { ByteReader, DAMAGED, META_MAX, Tree, UNSAFE, utf8 } from "./extract-tree.ts";

interface TarHeader {
  name: string;
  mode: number;
  size: number;
  type: string;
  linkname: string;
}

export async function readTar(src: AsyncIterable<Buffer>, tree: Tree): Promise<void> {
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

