// The extractor against archives made by the system tar and zip (byte-identical to what they
// extract), and against hostile archives built here byte by byte: every refusal must name the
// entry and leave no destination directory behind.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, linkSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import { crc32, deflateRawSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HsuError, type HsuErrorCode } from "@hsu/client/hsu-error";
import { archiveFormatOf, extractArchive, type ArchiveFormat, type ExtractLimits } from "./extract.ts";

const root = join(import.meta.dirname, "..", "..", "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "hsu-extract-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const roomy: ExtractLimits = { maxBytes: 1 << 30, maxEntries: 100_000 };
let seq = 0;
const fresh = (tag = "d") => join(tmp, "out", `${tag}-${++seq}`);
const sh = (cmd: string, args: string[], cwd = tmp) => execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });

/** A map of every path under dir to what it is; `exact` keeps the real modes, else exec bit only. */
function snapshot(dir: string, exact = false): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const d of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      const st = lstatSync(join(dir, r));
      const mode = exact ? (st.mode & 0o7777).toString(8) : st.mode & 0o111 ? "x" : "-";
      if (st.isSymbolicLink()) out[r] = `l ${readlinkSync(join(dir, r))}`;
      else if (st.isDirectory()) {
        out[r] = exact ? `d ${mode}` : "d";
        walk(r);
      } else out[r] = `f ${mode} ${createHash("sha256").update(readFileSync(join(dir, r))).digest("hex")}`;
    }
  };
  walk("");
  return out;
}

function save(name: string, bytes: Buffer): string {
  const p = join(tmp, "in", name);
  mkdirSync(join(tmp, "in"), { recursive: true });
  writeFileSync(p, bytes);
  return p;
}

/** Extracts and expects a refusal with `code` whose message names `entry`; the destination must be gone. */
async function refused(bytes: Buffer, format: ArchiveFormat, code: HsuErrorCode, entry: string | undefined, limits = roomy): Promise<HsuError> {
  const dest = fresh("bad");
  const archive = save(`a-${seq}.${format}`, bytes);
  let err: unknown;
  try {
    await extractArchive(archive, dest, format, limits);
  } catch (e) {
    err = e;
  }
  expect(HsuError.is(err), `expected a refusal, got ${String(err)}`).toBe(true);
  const e = err as HsuError;
  expect(e.code, e.message).toBe(code);
  expect(e.message).toContain(archive);
  if (entry !== undefined) expect(e.message).toContain(`entry ${JSON.stringify(entry)}`);
  expect(existsSync(dest), `${dest} left behind`).toBe(false);
  return e;
}

// ---- tar and zip made byte by byte ----

interface TarOpts {
  name: string | Buffer;
  type?: string;
  size?: number;
  mode?: number;
  linkname?: string;
  prefix?: string;
  gnu?: boolean;
  sizeField?: Buffer;
}
function tarHeader(o: TarOpts): Buffer {
  const b = Buffer.alloc(512);
  const octal = (off: number, len: number, v: number) => b.write(v.toString(8).padStart(len - 1, "0") + "\0", off, len, "latin1");
  (typeof o.name === "string" ? Buffer.from(o.name) : o.name).copy(b, 0, 0, 100);
  octal(100, 8, o.mode ?? 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  if (o.sizeField) o.sizeField.copy(b, 124);
  else octal(124, 12, o.size ?? 0);
  octal(136, 12, 0);
  b.write(o.type ?? "0", 156, 1, "latin1");
  b.write(o.linkname ?? "", 157, 100);
  b.write(o.gnu ? "ustar  \0" : "ustar\x0000", 257, 8, "latin1");
  if (o.prefix) b.write(o.prefix, 345, 155);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const v of b) sum += v;
  b.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  return b;
}
interface TarEntry extends TarOpts {
  data?: Buffer | string;
}
function tarBody(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = typeof e.data === "string" ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
    parts.push(tarHeader({ size: data.length, ...e }), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  return Buffer.concat(parts);
}
const tar = (entries: TarEntry[]) => Buffer.concat([tarBody(entries), Buffer.alloc(1024)]);
function pax(records: Record<string, string>, type = "x"): TarEntry {
  let body = "";
  for (const [k, v] of Object.entries(records)) {
    const rest = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(rest) + 1;
    while (String(len).length + Buffer.byteLength(rest) !== len) len++;
    body += `${len}${rest}`;
  }
  return { name: "PaxHeader", type, data: body };
}

interface ZipEntry {
  name: string | Buffer;
  data?: Buffer | string;
  /** Unix mode including the type bits (made by Unix); undefined: made by MS-DOS. */
  mode?: number;
  method?: 0 | 8;
  flags?: number;
  /** Overrides in the central record only. */
  central?: { crc?: number; usize?: number; csize?: number; name?: string; offset?: number };
}
function zipLocal(e: ZipEntry): { local: Buffer; crc: number; csize: number; usize: number; name: Buffer } {
  const data = typeof e.data === "string" ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
  const method = e.method ?? 8;
  const comp = method === 8 ? deflateRawSync(data) : data;
  const name = typeof e.name === "string" ? Buffer.from(e.name) : e.name;
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4);
  h.writeUInt16LE(e.flags ?? 0x800, 6);
  h.writeUInt16LE(method, 8);
  h.writeUInt16LE(0x6000, 10);
  h.writeUInt16LE(0x5a21, 12);
  h.writeUInt32LE(crc32(data), 14);
  h.writeUInt32LE(comp.length, 18);
  h.writeUInt32LE(data.length, 22);
  h.writeUInt16LE(name.length, 26);
  return { local: Buffer.concat([h, name, comp]), crc: crc32(data), csize: comp.length, usize: data.length, name };
}
function zipCentral(e: ZipEntry, l: ReturnType<typeof zipLocal>, offset: number): Buffer {
  const name = e.central?.name !== undefined ? Buffer.from(e.central.name) : l.name;
  const c = Buffer.alloc(46);
  c.writeUInt32LE(0x02014b50, 0);
  c.writeUInt16LE(e.mode === undefined ? 20 : (3 << 8) | 30, 4);
  c.writeUInt16LE(20, 6);
  c.writeUInt16LE(e.flags ?? 0x800, 8);
  c.writeUInt16LE(e.method ?? 8, 10);
  c.writeUInt16LE(0x6000, 12);
  c.writeUInt16LE(0x5a21, 14);
  c.writeUInt32LE(e.central?.crc ?? l.crc, 16);
  c.writeUInt32LE(e.central?.csize ?? l.csize, 20);
  c.writeUInt32LE(e.central?.usize ?? l.usize, 24);
  c.writeUInt16LE(name.length, 28);
  c.writeUInt32LE(((e.mode ?? 0) << 16) >>> 0, 38);
  c.writeUInt32LE(e.central?.offset ?? offset, 42);
  return Buffer.concat([c, name]);
}
function zipEnd(count: number, cdSize: number, cdOffset: number): Buffer {
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(cdOffset, 16);
  return end;
}
function zip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let pos = 0;
  for (const e of entries) {
    const l = zipLocal(e);
    centrals.push(zipCentral(e, l, pos));
    locals.push(l.local);
    pos += l.local.length;
  }
  const cd = Buffer.concat(centrals);
  return Buffer.concat([...locals, cd, zipEnd(entries.length, cd.length, pos)]);
}

// ---- fixtures from the system tools ----

const src = join(tmp, "src"); // everything
const small = join(tmp, "small"); // a few small files, for loops over offsets
const archives: Record<string, string> = {};
beforeAll(() => {
  execFileSync("bash", [join(root, "scripts/tools/debian.sh"), "zip", "unzip"], { stdio: "inherit" });
  const f = (rel: string, content: string | Buffer, mode = 0o644) => {
    mkdirSync(join(src, rel, ".."), { recursive: true });
    writeFileSync(join(src, rel), content);
    chmodSync(join(src, rel), mode);
  };
  f("README.md", "# unit\n".repeat(500));
  f("bin/run.sh", "#!/bin/sh\necho hi\n", 0o755);
  f("bin/suid", "setuid bit must go\n", 0o4755);
  f("bin/group-x", "only g+x\n", 0o610);
  f("lib/data.bin", randomBytes(300_000));
  f("empty", "");
  f("deep/a/b/c/d/e/f/g/h/i/j/file.txt", "deep\n");
  f(`${"n".repeat(150)}/${"m".repeat(120)}.txt`, "long names\n");
  f("ünïcødé-名前.txt", "unicode\n");
  mkdirSync(join(src, "emptydir"));
  symlinkSync("README.md", join(src, "link-rel"));
  symlinkSync("../README.md", join(src, "bin/up"));
  symlinkSync("lib", join(src, "dirlink"));
  mkdirSync(small);
  writeFileSync(join(small, "a.txt"), "alpha\n".repeat(40));
  writeFileSync(join(small, "run"), "#!/bin/sh\n", { mode: 0o755 });
  mkdirSync(join(small, "sub"));
  writeFileSync(join(small, "sub/b.txt"), "beta\n");
  symlinkSync("sub/b.txt", join(small, "sub-link"));
  linkSync(join(src, "lib/data.bin"), join(src, "lib/hard"));
  const a = (name: string, cmd: string, args: string[], cwd = tmp) => {
    sh(cmd, args, cwd);
    archives[name] = join(tmp, name);
  };
  a("gnu.tar.gz", "tar", ["-C", src, "-czf", join(tmp, "gnu.tar.gz"), "."]);
  a("pax.tar", "tar", ["--format=pax", "-C", tmp, "-cf", join(tmp, "pax.tar"), "src"]);
  a("gnu.tar", "tar", ["--format=gnu", "-C", src, "-cf", join(tmp, "gnu.tar"), "."]);
  a("ustar.tgz", "tar", ["--format=ustar", "-C", small, "-czf", join(tmp, "ustar.tgz"), "."]);
  a("small.tar", "tar", ["-C", small, "-cf", join(tmp, "small.tar"), "."]);
  a("full.zip", "zip", ["-q", "-r", "-y", join(tmp, "full.zip"), "."], src);
  a("stored.zip", "zip", ["-q", "-0", "-r", "-y", join(tmp, "stored.zip"), "."], small);
  a("small.zip", "zip", ["-q", "-r", "-y", join(tmp, "small.zip"), "."], small);
  // into a pipe zip cannot seek back, so it writes data descriptors (and it cannot store symlinks there)
  sh("bash", ["-o", "pipefail", "-c", `zip -q -r - README.md bin/run.sh deep lib | cat > ${join(tmp, "piped.zip")}`], src);
  archives["piped.zip"] = join(tmp, "piped.zip");
});

/** What the system tool extracts. */
function reference(name: string): string {
  const dest = fresh("ref");
  mkdirSync(dest, { recursive: true });
  if (name.endsWith(".zip")) sh("unzip", ["-q", archives[name]!, "-d", dest]);
  else sh("tar", ["-xf", archives[name]!, "-C", dest]);
  return dest;
}

describe("archiveFormatOf", () => {
  it("reads the extension of a name or a URL's path", () => {
    expect(archiveFormatOf("unit-1.2.tar.gz")).toBe("tar.gz");
    expect(archiveFormatOf("/x/UNIT.TGZ")).toBe("tgz");
    expect(archiveFormatOf("a.tar")).toBe("tar");
    expect(archiveFormatOf("https://example.com/dl/a.zip?token=1#frag")).toBe("zip");
    expect(archiveFormatOf("https://example.com/a.zip/download")).toBeUndefined();
    expect(archiveFormatOf("a.tar.xz")).toBeUndefined();
    expect(archiveFormatOf("tar")).toBeUndefined();
  });
});

describe("archives made by tar and zip", () => {
  for (const [name, format] of [
    ["gnu.tar.gz", "tar.gz"],
    ["pax.tar", "tar"],
    ["gnu.tar", "tar"],
    ["ustar.tgz", "tgz"],
    ["full.zip", "zip"],
    ["stored.zip", "zip"],
    ["piped.zip", "zip"],
  ] as const) {
    it(`${name} extracts as ${name.endsWith("zip") ? "unzip" : "tar -x"} does (contents, links, exec bits)`, async () => {
      const dest = fresh("ok");
      const r = await extractArchive(archives[name]!, dest, format, roomy);
      const want = snapshot(reference(name));
      expect(snapshot(dest)).toEqual(want);
      const n = Object.values(want);
      expect(r.files + r.dirs + r.symlinks).toBe(n.length);
      expect(r.symlinks).toBe(n.filter((v) => v.startsWith("l ")).length);
    });
  }

  it("modes are 0755/0644 for files and 0755 for directories; setuid is dropped; hard links share the inode", async () => {
    const dest = fresh("modes");
    const r = await extractArchive(archives["gnu.tar"]!, dest, "tar", roomy);
    const s = snapshot(dest, true);
    expect(s["bin/run.sh"]).toMatch(/^f 755 /);
    expect(s["bin/suid"]).toMatch(/^f 755 /);
    expect(s["bin/group-x"]).toMatch(/^f 755 /);
    expect(s["README.md"]).toMatch(/^f 644 /);
    expect(s["emptydir"]).toBe("d 755");
    expect(lstatSync(dest).mode & 0o7777).toBe(0o755);
    for (const [k, v] of Object.entries(s)) if (v.startsWith("d ")) expect(v, k).toBe("d 755");
    expect(lstatSync(join(dest, "lib/hard")).ino).toBe(lstatSync(join(dest, "lib/data.bin")).ino);
    expect(r.bytes).toBe(Object.keys(s).reduce((n, k) => n + (s[k]!.startsWith("f ") && k !== "lib/hard" ? lstatSync(join(dest, k)).size : 0), 0));
  });

  it("a strict umask (077) does not change the modes", async () => {
    const old = process.umask(0o077);
    try {
      const dest = fresh("umask");
      await extractArchive(archives["small.tar"]!, dest, "tar", roomy);
      const s = snapshot(dest, true);
      expect(lstatSync(dest).mode & 0o7777).toBe(0o755);
      expect([s["a.txt"]!.slice(0, 5), s["run"]!.slice(0, 5), s["sub"]]).toEqual(["f 644", "f 755", "d 755"]);
    } finally {
      process.umask(old);
    }
  });

  it("zip from stdin (zip64) is refused as unsupported, clearly", async () => {
    const bytes = execFileSync("sh", ["-c", "echo hello | zip -q - - | cat"]);
    const e = await refused(bytes, "zip", "unsupported", "-");
    expect(e.message).toContain("zip64");
  });
});

describe("hostile tar entries are refused, naming the entry, leaving nothing", () => {
  const longEvil = `${"x/".repeat(60)}${"../".repeat(61)}evil`;
  const cases: [string, TarEntry[], HsuErrorCode, string, RegExp][] = [
    ["a ../ entry", [{ name: "../evil", data: "x" }], "invalid_argument", "../evil", /"\.\." component/],
    ["a .. inside the path", [{ name: "a/b/../../../evil", data: "x" }], "invalid_argument", "a/b/../../../evil", /"\.\."/],
    ["an absolute path", [{ name: "/etc/evil", data: "x" }], "invalid_argument", "/etc/evil", /absolute/],
    ["an absolute symlink", [{ name: "l", type: "2", linkname: "/etc/passwd" }], "invalid_argument", "l", /absolute/],
    ["a symlink escaping by ..", [{ name: "a/", type: "5" }, { name: "a/l", type: "2", linkname: "../../etc" }], "invalid_argument", "a/l", /outside/],
    ["a symlink with .. after a name", [{ name: "l", type: "2", linkname: "x/../.." }], "invalid_argument", "l", /follows a name/],
    ["a file through a symlink", [{ name: "d/", type: "5" }, { name: "l", type: "2", linkname: "d" }, { name: "l/f", data: "x" }], "invalid_argument", "l/f", /through the symlink "l"/],
    ["a file through a deeper symlink", [{ name: "d/", type: "5" }, { name: "d/l", type: "2", linkname: "." }, { name: "d/l/e/x", data: "x" }], "invalid_argument", "d/l/e/x", /through the symlink "d\/l"/],
    ["a directory through a symlink", [{ name: "l", type: "2", linkname: "." }, { name: "l/d/", type: "5" }], "invalid_argument", "l/d/", /through the symlink/],
    ["a file under a file", [{ name: "f", data: "x" }, { name: "f/g", data: "y" }], "invalid_argument", "f/g", /parent "f" is a file/],
    ["a character device", [{ name: "null", type: "3" }], "invalid_argument", "null", /character device/],
    ["a block device", [{ name: "sda", type: "4" }], "invalid_argument", "sda", /block device/],
    ["a FIFO", [{ name: "fifo", type: "6" }], "invalid_argument", "fifo", /FIFO/],
    ["a duplicate file", [{ name: "a", data: "1" }, { name: "a", data: "2" }], "invalid_argument", "a", /second entry/],
    ["a duplicate by ./", [{ name: "a", data: "1" }, { name: "./a", data: "2" }], "invalid_argument", "./a", /second entry/],
    ["a symlink then a file of its name", [{ name: "a", type: "2", linkname: "b" }, { name: "a", data: "2" }], "invalid_argument", "a", /second entry/],
    ["a duplicate directory", [{ name: "d/", type: "5" }, { name: "d", type: "5" }], "invalid_argument", "d", /second entry/],
    ["a hard link outside", [{ name: "h", type: "1", linkname: "../etc/passwd" }], "invalid_argument", "h", /hard link/],
    ["a hard link to an absolute path", [{ name: "h", type: "1", linkname: "/etc/passwd" }], "invalid_argument", "h", /absolute/],
    ["a hard link to a later file", [{ name: "h", type: "1", linkname: "f" }, { name: "f", data: "x" }], "invalid_argument", "h", /not a regular file extracted before/],
    ["a hard link to a symlink", [{ name: "s", type: "2", linkname: "x" }, { name: "h", type: "1", linkname: "s" }], "invalid_argument", "h", /not a regular file/],
    ["a backslash", [{ name: "..\\evil", data: "x" }], "invalid_argument", "..\\evil", /backslash/],
    ["the destination itself as a file", [{ name: "./", data: "" , type: "2", linkname: "x" }], "invalid_argument", "./", /destination directory itself/],
    ["a pax path with ..", [pax({ path: "ok/../../evil" }), { name: "harmless", data: "x" }], "invalid_argument", "ok/../../evil", /"\.\."/],
    ["a pax path with NUL", [pax({ path: "a\0b" }), { name: "harmless", data: "x" }], "invalid_argument", "a\0b", /NUL/],
    ["a pax linkpath absolute", [pax({ linkpath: "/etc" }), { name: "l", type: "2", linkname: "ok" }], "invalid_argument", "l", /absolute/],
    ["a GNU long name with ..", [{ name: "././@LongLink", type: "L", gnu: true, data: `${longEvil}\0` }, { name: "short", gnu: true, data: "x" }], "invalid_argument", longEvil, /"\.\."/],
    ["a GNU sparse file", [{ name: "sparse", type: "S", gnu: true }], "unsupported", "sparse", /sparse/],
    ["a pax sparse file", [pax({ "GNU.sparse.major": "1", "GNU.sparse.minor": "0" }), { name: "s", data: "x" }], "unsupported", "s", /sparse/],
    ["an unknown type", [{ name: "v", type: "V" }], "unsupported", "v", /entry type "V"/],
  ];
  for (const [what, entries, code, entry, msg] of cases) {
    it(what, async () => {
      for (const gz of [false, true]) {
        const bytes = gz ? gzipSync(tar(entries)) : tar(entries);
        const e = await refused(bytes, gz ? "tar.gz" : "tar", code, entry);
        expect(e.message).toMatch(msg);
      }
    });
  }

  it("pax headers piling up before one entry are capped at 1 MiB", async () => {
    const many = Array.from({ length: 5 }, (_, i) => pax({ [`k${i}`]: "v".repeat(300_000) }));
    const e = await refused(tar([...many, { name: "f", data: "x" }]), "tar", "resource_exhausted", "PaxHeader");
    expect(e.message).toMatch(/pass 1048576 bytes/);
  });

  it("a name that is not UTF-8", async () => {
    const e = await refused(tar([{ name: Buffer.from([0x61, 0xff, 0xfe]), data: "x" }]), "tar", "invalid_argument", undefined);
    expect(e.message).toMatch(/not UTF-8/);
  });

  it("symlinks that stay inside are kept, and a chain of them cannot climb out", async () => {
    const dest = fresh("links");
    await extractArchive(save("links.tar", tar([{ name: "a/b/", type: "5" }, { name: "a/b/up", type: "2", linkname: "../.." }, { name: "a/top", type: "2", linkname: "../a/./b//up" }, { name: "self", type: "2", linkname: "." }])), dest, "tar", roomy);
    expect(readlinkSync(join(dest, "a/b/up"))).toBe("../..");
    expect(readlinkSync(join(dest, "a/top"))).toBe("../a/./b//up");
    // a link beside them that would climb through a link is refused: "a/b/up/.." is a name then ".."
    await refused(tar([{ name: "a/b/", type: "5" }, { name: "a/b/up", type: "2", linkname: "../.." }, { name: "x", type: "2", linkname: "a/b/up/.." }]), "tar", "invalid_argument", "x");
  });
});

describe("damaged tar archives", () => {
  const good = tar([{ name: "dir/", type: "5" }, { name: "dir/f.txt", data: "hello\n".repeat(100) }, { name: "g", data: "x" }]);

  it("a flipped header byte fails the checksum", async () => {
    const bad = Buffer.from(good);
    bad[512 + 5]! ^= 0x01; // in "dir/f.txt"'s name
    const e = await refused(bad, "tar", "invalid_argument", undefined);
    expect(e.message).toMatch(/header at byte 512 fails its checksum/);
  });

  it("a tar.gz whose gzip CRC or length is wrong is refused (zlib checks the trailer)", async () => {
    const gz = gzipSync(tar([{ name: "f", data: "hello\n".repeat(1000) }]));
    for (const at of [gz.length - 8, gz.length - 1]) {
      const bad = Buffer.from(gz);
      bad[at]! ^= 0x01;
      expect((await refused(bad, "tar.gz", "invalid_argument", undefined)).message).toMatch(/gzip data is damaged or truncated \(zlib: incorrect (data|length) check\)/);
    }
  });

  it("a lone zero block, data after the end, a missing end marker, a short read are refused", async () => {
    const body = tarBody([{ name: "f", data: "x" }]);
    expect((await refused(Buffer.concat([body, Buffer.alloc(512), tarHeader({ name: "late" })]), "tar", "invalid_argument", undefined)).message).toMatch(/lone zero block/);
    expect((await refused(Buffer.concat([body, Buffer.alloc(1024), Buffer.from("junk")]), "tar", "invalid_argument", undefined)).message).toMatch(/after the end-of-archive/);
    expect((await refused(body, "tar", "invalid_argument", undefined)).message).toMatch(/without its end-of-archive marker/);
    expect((await refused(Buffer.concat([body, Buffer.alloc(512)]), "tar", "invalid_argument", undefined)).message).toMatch(/inside its end-of-archive marker/);
    expect((await refused(body.subarray(0, 600), "tar", "invalid_argument", "f")).message).toMatch(/truncated/);
    expect((await refused(Buffer.from("not a tar at all".repeat(64)), "tar", "invalid_argument", undefined)).message).toMatch(/checksum/);
  });

  it("a huge claimed size is refused before any byte is written, and a short one as truncated", async () => {
    const huge = Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0]); // base-256: 8 GiB
    const e = await refused(Buffer.concat([tarHeader({ name: "big", sizeField: huge }), Buffer.alloc(1024)]), "tar", "resource_exhausted", "big");
    expect(e.message).toMatch(/size 8589934592 would bring/);
    const e2 = await refused(Buffer.concat([tarHeader({ name: "big", size: 1 << 20 }), Buffer.alloc(4096)]), "tar", "invalid_argument", "big");
    expect(e2.message).toMatch(/truncated/);
  });

  it("truncated at every 37th byte (tar, tar.gz): refused, or whole when only padding was cut", async () => {
    for (const name of ["small.tar", "ustar.tgz"] as const) {
      const bytes = readFileSync(archives[name]!);
      const want = snapshot(reference(name));
      const format = name.endsWith(".tar") ? "tar" : "tgz";
      let refusedCount = 0;
      let content = bytes.length; // past the end marker a tar is zero padding: a few cuts there are enough
      while (content > 0 && bytes[content - 1] === 0) content--;
      for (let cut = 0; cut < Math.min(bytes.length, content + 2048); cut += 37) {
        const dest = fresh("cut");
        try {
          await extractArchive(save(`cut.${format}`, bytes.subarray(0, cut)), dest, format, roomy);
          // only the zero padding after the end marker may go missing
          expect(isZero(bytes.subarray(cut)) || format !== "tar", `cut at ${cut}`).toBe(true);
          expect(snapshot(dest)).toEqual(want);
          rmSync(dest, { recursive: true });
        } catch (e) {
          expect(HsuError.is(e), String(e)).toBe(true);
          expect(existsSync(dest)).toBe(false);
          refusedCount++;
        }
      }
      expect(refusedCount).toBeGreaterThan(0);
      if (format === "tgz") expect(refusedCount).toBe(Math.ceil(bytes.length / 37)); // gzip has no padding
    }
  });

  it("every flipped byte of a tar.gz is refused or changes nothing", async () => {
    const bytes = readFileSync(archives["ustar.tgz"]!);
    const want = snapshot(reference("ustar.tgz"));
    let refusedCount = 0;
    let tried = 0;
    for (let at = 0; at < bytes.length; at += Math.max(1, Math.floor(bytes.length / 150))) {
      tried++;
      const bad = Buffer.from(bytes);
      bad[at]! ^= 0x10;
      const dest = fresh("flip");
      try {
        await extractArchive(save("flip.tgz", bad), dest, "tgz", roomy);
        // the gzip header's mtime/os/xfl and some bits of a deflate block header change nothing
        expect(snapshot(dest), `flip at ${at}`).toEqual(want);
      } catch (e) {
        expect(HsuError.is(e), String(e)).toBe(true);
        expect(existsSync(dest)).toBe(false);
        refusedCount++;
      }
    }
    expect(refusedCount).toBeGreaterThan(tried * 0.8); // the test is not vacuous
  });
});

const isZero = (b: Buffer) => b.every((v) => v === 0);

describe("hostile zip archives", () => {
  const cases: [string, ZipEntry[], HsuErrorCode, string, RegExp][] = [
    ["a ../ entry", [{ name: "../evil", data: "x" }], "invalid_argument", "../evil", /"\.\."/],
    ["an absolute path", [{ name: "/tmp/evil", data: "x" }], "invalid_argument", "/tmp/evil", /absolute/],
    ["an absolute symlink", [{ name: "l", data: "/etc/passwd", mode: 0o120777, method: 0 }], "invalid_argument", "l", /absolute/],
    ["a symlink escaping", [{ name: "a/l", data: "../../x", mode: 0o120777 }], "invalid_argument", "a/l", /outside/],
    ["a file through a symlink", [{ name: "l", data: ".", mode: 0o120777 }, { name: "l/f", data: "x", mode: 0o100644 }], "invalid_argument", "l/f", /through the symlink/],
    ["a FIFO", [{ name: "p", mode: 0o010644 }], "invalid_argument", "p", /FIFO/],
    ["a character device", [{ name: "c", mode: 0o020644 }], "invalid_argument", "c", /character device/],
    ["a socket", [{ name: "s", mode: 0o140644 }], "invalid_argument", "s", /socket/],
    ["a duplicate", [{ name: "a", data: "1" }, { name: "a", data: "2" }], "invalid_argument", "a", /second entry/],
    ["a NUL in a name", [{ name: "a\0b", data: "1" }], "invalid_argument", "a\0b", /NUL/],
    ["a name that is not UTF-8", [{ name: Buffer.from([0x61, 0xc3]), data: "1" }], "invalid_argument", "a\u00c3", /not UTF-8/],
    ["central and local names differ", [{ name: "good", data: "x", central: { name: "other" } }], "invalid_argument", "other", /differ in name/],
    ["a bad CRC", [{ name: "f", data: "hello", method: 0, central: { crc: 1234 } }], "invalid_argument", "f", /differ in CRC-32/],
    ["a size the central directory understates", [{ name: "f", data: "hello world", central: { usize: 3 } }], "invalid_argument", "f", /differ in size/],
    ["an encrypted entry", [{ name: "e", data: "x", flags: 0x801 }], "unsupported", "e", /encrypted/],
    ["an unknown method", [{ name: "b", data: "x", method: 12 as 0 }], "unsupported", "b", /method 12/],
    ["a directory with data", [{ name: "d/", data: "x" }], "invalid_argument", "d/", /directory with 1 bytes/],
  ];
  for (const [what, entries, code, entry, msg] of cases) {
    it(what, async () => {
      expect((await refused(zip(entries), "zip", code, entry)).message).toMatch(msg);
    });
  }

  it("a CRC mismatch in the data itself (both headers agree) is found while inflating", async () => {
    const l = zipLocal({ name: "f", data: "hello hello hello" });
    const wrong = (l.crc ^ 1) >>> 0;
    l.local.writeUInt32LE(wrong, 14);
    const cd = zipCentral({ name: "f" }, { ...l, crc: wrong }, 0);
    const e = await refused(Buffer.concat([l.local, cd, zipEnd(1, cd.length, l.local.length)]), "zip", "invalid_argument", "f");
    expect(e.message).toMatch(/CRC-32 mismatch/);
  });

  it("deflate data that ends before its compressed size (padding after it) is refused", async () => {
    const data = randomBytes(1000);
    const comp = Buffer.concat([deflateRawSync(data), randomBytes(600_000)]);
    const l = zipLocal({ name: "f", data: comp, method: 0 }); // a stored entry's bytes...
    l.local.writeUInt16LE(8, 8); // ...relabelled as deflate, declaring the inflated size
    l.local.writeUInt32LE(crc32(data), 14);
    l.local.writeUInt32LE(data.length, 22);
    const cd = zipCentral({ name: "f" }, { ...l, crc: crc32(data), usize: data.length }, 0);
    const e = await refused(Buffer.concat([l.local, cd, zipEnd(1, cd.length, l.local.length)]), "zip", "invalid_argument", "f");
    expect(e.message).toMatch(/deflate data ends after \d+ of its 60\d+ bytes/);
  });

  it("overlapping entries (a non-recursive zip bomb) are refused", async () => {
    const inner = zipLocal({ name: "b", data: "B".repeat(1000), method: 0 });
    const outer = zipLocal({ name: "a", data: inner.local, method: 0 });
    const cd = Buffer.concat([zipCentral({ name: "a", method: 0 }, outer, 0), zipCentral({ name: "b", method: 0 }, inner, 30 + 1)]);
    const e = await refused(Buffer.concat([outer.local, cd, zipEnd(2, cd.length, outer.local.length)]), "zip", "invalid_argument", "b");
    expect(e.message).toMatch(/overlap entry "a"/);
  });

  it("zip64 and multi-disk archives are refused as unsupported", async () => {
    const good = zip([{ name: "f", data: "x" }]);
    const end = good.length - 22;
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    const withLocator = Buffer.concat([good.subarray(0, end), locator, good.subarray(end)]);
    expect((await refused(withLocator, "zip", "unsupported", undefined)).message).toMatch(/zip64/);
    const disk = Buffer.from(good);
    disk.writeUInt16LE(1, end + 4);
    expect((await refused(disk, "zip", "unsupported", undefined)).message).toMatch(/multi-disk/);
  });

  it("a huge claimed size is refused before inflating; an understated one stops at the declared size", async () => {
    const huge = zip([{ name: "big", data: "x" }]);
    const cd = huge.length - 22 - 46 - 3;
    huge.writeUInt32LE(0xfffffff0, cd + 24);
    huge.writeUInt32LE(0xfffffff0, 22); // the local header agrees
    expect((await refused(huge, "zip", "resource_exhausted", undefined)).message).toMatch(/declares 4294967280 bytes/);
    const l = zipLocal({ name: "f", data: "a".repeat(100_000) });
    l.local.writeUInt32LE(10, 22);
    const cdr = zipCentral({ name: "f" }, { ...l, usize: 10 }, 0);
    const e = await refused(Buffer.concat([l.local, cdr, zipEnd(1, cdr.length, l.local.length)]), "zip", "invalid_argument", "f");
    expect(e.message).toMatch(/more than the 10 bytes its header declares/);
  });

  it("not a zip, or a zip with junk in front, is refused", async () => {
    expect((await refused(Buffer.from("PK but not really"), "zip", "invalid_argument", undefined)).message).toMatch(/no end-of-central-directory/);
    expect((await refused(Buffer.concat([Buffer.from("#!/bin/sh\n"), zip([{ name: "f", data: "x" }])]), "zip", "invalid_argument", undefined)).message).toMatch(/does not end where/);
  });

  it("truncated at every 7th byte: always refused", async () => {
    const bytes = readFileSync(archives["small.zip"]!);
    for (let cut = 0; cut < bytes.length; cut += 7) await refused(bytes.subarray(0, cut), "zip", "invalid_argument", undefined);
  });

  it("every flipped byte of a zip is refused or leaves the contents intact", async () => {
    const bytes = readFileSync(archives["small.zip"]!);
    const want = snapshot(reference("small.zip"));
    const contents = (s: Record<string, string>) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.replace(/^f [x-] /, "f ")]));
    let refusedCount = 0;
    let tried = 0;
    for (let at = 0; at < bytes.length; at += 3) {
      tried++;
      const bad = Buffer.from(bytes);
      bad[at]! ^= 0x04;
      const dest = fresh("zflip");
      try {
        await extractArchive(save("flip.zip", bad), dest, "zip", roomy);
        // fields no checksum covers (version made by, attributes, extra fields) may change modes, never contents
        const got = contents(snapshot(dest));
        for (const [k, v] of Object.entries(contents(want))) if (v.startsWith("f ")) expect(got[k], `flip at ${at}: ${k}`).toBe(v);
      } catch (e) {
        expect(HsuError.is(e), String(e)).toBe(true);
        expect(existsSync(dest)).toBe(false);
        refusedCount++;
      }
    }
    expect(refusedCount).toBeGreaterThan(tried / 2);
  });
});

describe("limits", () => {
  const zeros = Buffer.alloc(10 << 20);

  it("a gzip bomb (10 MiB of zeros) stops at the ratio limit, not at its end", async () => {
    const bytes = gzipSync(tar([{ name: "zeros", data: zeros }]));
    expect(bytes.length).toBeLessThan(20_000);
    const e = await refused(bytes, "tar.gz", "resource_exhausted", "zeros");
    expect(e.message).toMatch(/more than 200 times its size/);
    const so = Number(/\((\d+) bytes so far\)/.exec(e.message)![1]);
    expect(so).toBeLessThan(Math.max(1 << 20, 200 * bytes.length) + 2 * 65536);
  });

  it("a zip bomb (10 MiB of zeros deflated) stops at the ratio limit", async () => {
    const bytes = zip([{ name: "zeros", data: zeros }]);
    expect(bytes.length).toBeLessThan(20_000);
    expect((await refused(bytes, "zip", "resource_exhausted", "zeros")).message).toMatch(/more than 200 times/);
  });

  it("a ratio raised for the artifact lets it through", async () => {
    const r = await extractArchive(save("z.tgz", gzipSync(tar([{ name: "zeros", data: zeros }]))), fresh(), "tgz", { ...roomy, maxRatio: 2000 });
    expect(r).toEqual({ files: 1, dirs: 0, symlinks: 0, bytes: zeros.length });
  });

  it("maxBytes counts what is written: a file past it is refused (tar, zip)", async () => {
    const data = randomBytes(50_000);
    const limits = { maxBytes: 80_000, maxEntries: 10 };
    await refused(tar([{ name: "a", data }, { name: "b", data }]), "tar", "resource_exhausted", "b", limits);
    await refused(zip([{ name: "a", data }, { name: "b", data }]), "zip", "resource_exhausted", undefined, limits);
  });

  it("maxEntries counts files, links and directories, implied ones too", async () => {
    await refused(tar(Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, data: "x" }))), "tar", "resource_exhausted", "f10", { maxBytes: 1000, maxEntries: 10 });
    await refused(tar([{ name: "a/b/c/d/e/f/g/h/i/j/k", data: "x" }]), "tar", "resource_exhausted", "a/b/c/d/e/f/g/h/i/j/k", { maxBytes: 1000, maxEntries: 10 });
    const e = await refused(zip(Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, data: "x" }))), "zip", "resource_exhausted", undefined, { maxBytes: 1000, maxEntries: 10 });
    expect(e.message).toMatch(/lists 11 entries/);
    const r = await extractArchive(save("ten.tar", tar([{ name: "a/b/c/d/e/f/g/h/i/j", data: "x" }])), fresh(), "tar", { maxBytes: 1000, maxEntries: 10 });
    expect(r).toEqual({ files: 1, dirs: 9, symlinks: 0, bytes: 1 });
  });

  it("a path 1000 directories deep extracts; one past 4095 bytes is refused, its name shortened in the message", async () => {
    const deep = `${"a/".repeat(1000)}f`;
    const r = await extractArchive(save("deep.tar", tar([pax({ path: deep }), { name: "x", data: "x" }])), fresh(), "tar", roomy);
    expect(r).toEqual({ files: 1, dirs: 1000, symlinks: 0, bytes: 1 });
    const e = await refused(tar([pax({ path: `${"a/".repeat(2100)}f` }), { name: "x", data: "x" }]), "tar", "invalid_argument", undefined);
    expect(e.message).toMatch(/^[^\n]{0,900}$/);
    expect(e.message).toMatch(/entry "a\/a\/[^"]*…[^"]*a\/f": its path is longer than 4095 bytes/);
  });

  it("bad limits are refused", async () => {
    await expect(extractArchive(archives["small.tar"]!, fresh(), "tar", { maxBytes: 0, maxEntries: 1 })).rejects.toThrow(/limits must be positive/);
  });
});

describe("the destination and the archive file", () => {
  it("an existing destination is refused and left alone", async () => {
    const dest = fresh("exists");
    mkdirSync(dest, { recursive: true });
    writeFileSync(join(dest, "keep"), "mine");
    await expect(extractArchive(archives["small.tar"]!, dest, "tar", roomy)).rejects.toMatchObject({ code: "already_exists" });
    expect(readFileSync(join(dest, "keep"), "utf8")).toBe("mine");
  });

  it("the destination's parents are created", async () => {
    const dest = join(fresh("parent"), "x", "y");
    await extractArchive(archives["small.tar"]!, dest, "tar", roomy);
    expect(readFileSync(join(dest, "sub/b.txt"), "utf8")).toBe("beta\n");
  });

  it("a FIFO as the archive is refused without waiting for a writer; a missing one is not_found", async () => {
    const fifo = join(tmp, "fifo.tar");
    sh("mkfifo", [fifo]);
    await expect(extractArchive(fifo, fresh(), "tar", roomy)).rejects.toMatchObject({ code: "failed_precondition" });
    await expect(extractArchive(join(tmp, "nope.tar"), fresh(), "tar", roomy)).rejects.toMatchObject({ code: "not_found" });
  });

  it("an aborted signal stops it before or during extraction; nothing is left", async () => {
    const before = new AbortController();
    before.abort();
    const d1 = fresh("abort");
    await expect(extractArchive(archives["gnu.tar.gz"]!, d1, "tar.gz", roomy, before.signal)).rejects.toMatchObject({ code: "cancelled" });
    expect(existsSync(d1)).toBe(false);
    const during = new AbortController();
    const d2 = fresh("abort");
    const big = save("big.tgz", gzipSync(tar(Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, data: randomBytes(100_000) })))));
    const p = extractArchive(big, d2, "tgz", roomy, during.signal);
    setImmediate(() => during.abort());
    await expect(p).rejects.toMatchObject({ code: "cancelled" });
    expect(existsSync(d2)).toBe(false);
  });
});

describe("random mutations (seeded; HSU_FUZZ_SEED=<n> replays one)", () => {
  const seed = Number(process.env.HSU_FUZZ_SEED ?? Date.now() % 1_000_000);
  /** mulberry32 */
  const rng = (a: number) => () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  /** Every block that looks like a tar header gets a correct checksum, so the mutation reaches the parser. */
  const fixChecksums = (b: Buffer) => {
    for (let off = 0; off + 512 <= b.length; off += 512) {
      if (b.toString("latin1", off + 257, off + 262) !== "ustar") continue;
      b.fill(0x20, off + 148, off + 156);
      let sum = 0;
      for (let i = off; i < off + 512; i++) sum += b[i]!;
      b.write(sum.toString(8).padStart(6, "0") + "\0 ", off + 148, 8, "latin1");
    }
  };
  /** Whatever was accepted holds the guarantees: inside dest, safe modes, links resolving inside. */
  const checkSafe = (parent: string, dest: string, why: string) => {
    expect(readdirSync(parent), why).toEqual(existsSync(dest) ? ["x"] : []);
    if (!existsSync(dest)) return;
    const walk = (dir: string) => {
      for (const d of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, d.name);
        const st = lstatSync(p);
        if (st.isSymbolicLink()) {
          let to: string;
          try {
            to = realpathSync(p);
          } catch {
            to = resolve(dirname(p), readlinkSync(p));
          }
          expect(to === dest || to.startsWith(dest + sep), `${why}: ${p} -> ${to}`).toBe(true);
        } else if (st.isDirectory()) {
          expect(st.mode & 0o7777, `${why}: ${p}`).toBe(0o755);
          walk(p);
        } else {
          expect(st.isFile(), `${why}: ${p}`).toBe(true);
          expect([0o644, 0o755], `${why}: ${p}`).toContain(st.mode & 0o7777);
        }
      }
    };
    walk(dest);
  };
  const tarBytes = "./\0/.l12570"; // the characters that change paths and types
  const base = () =>
    tar([
      { name: "d/", type: "5" },
      { name: "d/f", data: "file\n" },
      { name: "d/l", type: "2", linkname: "f" },
      { name: "d/up", type: "2", linkname: "../d" },
      { name: "h", type: "1", linkname: "d/f" },
      { name: "x/y/z", data: "zz", mode: 0o4755 },
    ]);

  for (const [format, make] of [
    ["tar", base],
    ["tar.gz", () => readFileSync(archives["ustar.tgz"]!)],
    ["zip", () => readFileSync(archives["small.zip"]!)],
  ] as const) {
    it(`${format}: 150 mutated copies are refused cleanly or extract safely`, async () => {
      const next = rng(seed + format.length);
      const orig = make();
      await extractArchive(save(`orig.${format}`, orig), fresh(), format, roomy); // the unmutated one is fine
      let accepted = 0;
      for (let i = 0; i < 150; i++) {
        const bad = Buffer.from(orig);
        const n = 1 + Math.floor(next() * 4);
        const at: number[] = [];
        for (let k = 0; k < n; k++) {
          const pos = Math.floor(next() * bad.length);
          at.push(pos);
          bad[pos] = format === "tar" && next() < 0.5 ? tarBytes.charCodeAt(Math.floor(next() * tarBytes.length)) : Math.floor(next() * 256);
        }
        if (format === "tar") fixChecksums(bad);
        const parent = fresh("fuzz");
        mkdirSync(parent, { recursive: true });
        const dest = join(parent, "x");
        const why = `seed ${seed}, ${format} copy ${i}, bytes changed at ${at.join(",")}`;
        try {
          await extractArchive(save(`fuzz.${format}`, bad), dest, format, { maxBytes: 1 << 24, maxEntries: 1000 });
          accepted++;
        } catch (e) {
          expect(HsuError.is(e), `${why}: ${String(e)}`).toBe(true);
          expect(existsSync(dest), why).toBe(false);
        }
        checkSafe(parent, dest, why);
      }
      if (format === "tar") expect(accepted, `seed ${seed}: some mutated headers parse`).toBeGreaterThan(0);
    });
  }
});
