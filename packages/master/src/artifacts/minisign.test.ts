// Interop with the real Debian `minisign` 0.11 CLI both ways, and the hostile cases: every
// failure must be refused with a message naming what failed.
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HsuError } from "@hsu/client/hsu-error";
import { formatSignatureText, keyIdHex, parseSignatureText } from "./minisign-format.ts";
import { generateKeyPair, parsePublicKey, parseSecretKey, scryptParams, signBytes, signFile, verifyBytes, verifyFile, type PublicKey } from "./minisign.ts";

const root = join(import.meta.dirname, "..", "..", "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "hsu-minisign-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// A tiny scrypt cost for keys made in this file (minisign reads the cost from the key file).
const cheap = { opsLimit: 32768n, memLimit: 1n << 20n };

/** Runs the real minisign; throws with its stderr when it fails. */
function minisign(args: string[], input?: string): string {
  const r = spawnSync("minisign", args, { cwd: tmp, input: input ?? "", encoding: "utf8" });
  if (r.status !== 0) throw new Error(`minisign ${args.join(" ")} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}
const minisignOk = (args: string[], input?: string) => spawnSync("minisign", args, { cwd: tmp, input: input ?? "", encoding: "utf8" }).status === 0;
const file = (name: string, content: string | Buffer) => (writeFileSync(join(tmp, name), content), join(tmp, name));
const read = (name: string) => readFileSync(join(tmp, name), "utf8");

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<HsuError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    if (HsuError.is(e)) return e;
    throw e;
  }
  throw new Error("accepted");
}

let theirs: PublicKey; // made by `minisign -G -W`
let other: PublicKey; // another minisign key
beforeAll(() => {
  execFileSync("bash", [join(root, "scripts/tools/debian.sh"), "minisign"], { stdio: "inherit" });
  minisign(["-G", "-W", "-p", "a.pub", "-s", "a.key"]);
  minisign(["-G", "-W", "-p", "b.pub", "-s", "b.key"]);
  theirs = parsePublicKey(read("a.pub"));
  other = parsePublicKey(read("b.pub"));
  file("artifact.tar.gz", Buffer.from("pretend this is a tarball\n".repeat(1000)));
  minisign(["-S", "-W", "-s", "a.key", "-m", "artifact.tar.gz", "-t", "version:1.2.3"]);
});

describe("key ids", () => {
  it("are printed as minisign prints them: little-endian u64 in hex, no leading zeros (1 key in 16)", () => {
    expect(keyIdHex(Uint8Array.from([0xe7, 0x97, 0xce, 0x3d, 0xec, 0x9a, 0xc2, 0x5a]))).toBe("5AC29AEC3DCE97E7");
    expect(keyIdHex(Uint8Array.from([0xe7, 0x97, 0xce, 0x3d, 0xec, 0x9a, 0xc2, 0x0a]))).toBe("AC29AEC3DCE97E7");
    expect(keyIdHex(Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0]))).toBe("1");
    expect(keyIdHex(new Uint8Array(8))).toBe("0");
  });
  it("match the minisign CLI's for many keys (some with a leading zero digit)", () => {
    // 40 keys: a leading zero digit comes with p = 1 - (15/16)^40 = 92 %.
    for (let i = 0; i < 40; i++) {
      rmSync(join(tmp, "k.pub"), { force: true });
      rmSync(join(tmp, "k.key"), { force: true });
      minisign(["-G", "-W", "-p", "k.pub", "-s", "k.key"]);
      const text = read("k.pub");
      const printed = /minisign public key ([0-9A-F]+)/.exec(text)![1];
      expect(parsePublicKey(text).keyId).toBe(printed);
      expect(parsePublicKey(text.split("\n")[1]!).untrustedComment).toBe(`minisign public key ${printed}`);
    }
  });
});

describe("files signed by the minisign CLI", () => {
  it("a prehashed signature (minisign's default) verifies, with its key id and trusted comment", async () => {
    expect(read("a.pub")).toContain(`minisign public key ${theirs.keyId}`);
    const v = await verifyFile(join(tmp, "artifact.tar.gz"), read("artifact.tar.gz.minisig"), [other, theirs]);
    expect(v).toEqual({ keyId: theirs.keyId, trustedComment: "version:1.2.3", algorithm: "ED" });
  });

  it("the bare base64 form (what `minisign -P` takes) is the same key", () => {
    const bare = read("a.pub").split("\n")[1]!;
    expect(parsePublicKey(bare)).toEqual(theirs);
    expect(parsePublicKey(`${bare}\n`).base64).toBe(bare);
  });

  it("two public keys pasted into one text are refused, not half trusted", () => {
    expect(() => parsePublicKey(read("a.pub") + read("b.pub"), { file: "keys.pub" })).toThrow(/^keys\.pub:3: a minisign public key has at most 2 lines/);
    expect(() => parsePublicKey(` ${read("a.pub").split("\n")[1]}`)).toThrow(/malformed base64/);
  });

  it("a legacy (-l) signature over the raw bytes verifies; it can be refused by size", async () => {
    minisign(["-S", "-l", "-W", "-s", "a.key", "-m", "artifact.tar.gz", "-x", "legacy.minisig"]);
    const v = await verifyFile(join(tmp, "artifact.tar.gz"), read("legacy.minisig"), [theirs]);
    expect(v.algorithm).toBe("Ed");
    expect((await rejection(verifyFile(join(tmp, "artifact.tar.gz"), read("legacy.minisig"), [theirs], { legacyMaxBytes: 100 }))).message).toMatch(/legacy .* accepted up to 100 bytes/);
  });

  it("an empty file signed by minisign verifies", async () => {
    file("empty", "");
    minisign(["-S", "-W", "-s", "a.key", "-m", "empty"]);
    expect((await verifyFile(join(tmp, "empty"), read("empty.minisig"), [theirs])).keyId).toBe(theirs.keyId);
    expect(verifyBytes(new Uint8Array(0), read("empty.minisig"), [theirs]).keyId).toBe(theirs.keyId);
  });

  it("the secret key minisign -W writes loads (all-zero checksum, as minisign writes it) and signs what minisign verifies", async () => {
    const sk = await parseSecretKey(read("a.key"));
    expect(sk.keyId).toBe(theirs.keyId);
    writeFileSync(join(tmp, "artifact.tar.gz.ours"), await signFile(join(tmp, "artifact.tar.gz"), sk));
    minisign(["-V", "-p", "a.pub", "-m", "artifact.tar.gz", "-x", "artifact.tar.gz.ours"]);
  });
});

describe("what we make, the minisign CLI accepts", () => {
  it("our signature verifies with minisign -V, by key file and by -P base64; legacy too", async () => {
    const { publicKeyText, secretKey, publicKey } = await generateKeyPair();
    file("ours.pub", publicKeyText);
    writeFileSync(join(tmp, "s1.minisig"), await signFile(join(tmp, "artifact.tar.gz"), secretKey, { trustedComment: "version:2.0.0" }));
    expect(minisign(["-V", "-p", "ours.pub", "-m", "artifact.tar.gz", "-x", "s1.minisig"])).toContain("Trusted comment: version:2.0.0");
    minisign(["-V", "-P", publicKey.base64, "-m", "artifact.tar.gz", "-x", "s1.minisig"]);
    writeFileSync(join(tmp, "s2.minisig"), await signFile(join(tmp, "artifact.tar.gz"), secretKey, { legacy: true }));
    expect(minisign(["-V", "-p", "ours.pub", "-m", "artifact.tar.gz", "-x", "s2.minisig"])).toMatch(/Trusted comment: timestamp:\d+\tfile:artifact.tar.gz\n/);
    // and minisign refuses ours over another file, so the check above can fail
    file("other-file", "something else");
    expect(minisignOk(["-V", "-p", "ours.pub", "-m", "other-file", "-x", "s1.minisig"])).toBe(false);
  });

  it("the default trusted comment is minisign's: timestamp, file name, hashed", async () => {
    const { secretKey, publicKey } = await generateKeyPair();
    const text = signBytes(Buffer.from("x"), secretKey, { fileName: "x.tar.gz", now: () => 1700000000 });
    expect(verifyBytes(Buffer.from("x"), text, [publicKey]).trustedComment).toBe("timestamp:1700000000\tfile:x.tar.gz\thashed");
  });

  it("a password-less key we generate is usable by minisign -S -W", async () => {
    const { publicKey, publicKeyText, secretKeyText } = await generateKeyPair();
    file("nopw.key", secretKeyText);
    file("nopw.pub", publicKeyText);
    minisign(["-S", "-W", "-s", "nopw.key", "-m", "artifact.tar.gz", "-x", "nopw.minisig"]);
    expect((await verifyFile(join(tmp, "artifact.tar.gz"), read("nopw.minisig"), [publicKey])).keyId).toBe(publicKey.keyId);
    expect((await parseSecretKey(secretKeyText)).keyId).toBe(publicKey.keyId);
  });

  it("a password-protected key we generate is usable by minisign -S (password on stdin); a wrong password is refused by both", async () => {
    const { publicKey, secretKeyText } = await generateKeyPair({ password: "correct horse", kdf: cheap });
    file("pw.key", secretKeyText);
    minisign(["-S", "-s", "pw.key", "-m", "artifact.tar.gz", "-x", "pw.minisig"], "correct horse\n");
    expect((await verifyFile(join(tmp, "artifact.tar.gz"), read("pw.minisig"), [publicKey])).keyId).toBe(publicKey.keyId);
    expect(minisignOk(["-S", "-s", "pw.key", "-m", "artifact.tar.gz", "-x", "pw2.minisig"], "wrong\n")).toBe(false);
    expect((await parseSecretKey(secretKeyText, { password: "correct horse" })).keyId).toBe(publicKey.keyId);
    const wrong = await rejection(parseSecretKey(secretKeyText, { password: "wrong", file: "pw.key" }));
    expect(wrong.message).toBe("pw.key:2: wrong password for this secret key (its checksum does not match)");
    expect((await rejection(parseSecretKey(secretKeyText))).message).toMatch(/password-protected/);
  });
});

describe("scrypt parameters follow libsodium's pickparams", () => {
  it("minisign's sensitive limits are N=2^20, r=8, p=1; small limits stay small", () => {
    expect(scryptParams(33554432n, 1073741824n)).toEqual({ N: 1 << 20, r: 8, p: 1 });
    expect(scryptParams(524288n, 16777216n)).toEqual({ N: 1 << 14, r: 8, p: 1 }); // libsodium's "interactive"
    expect(scryptParams(32768n, 1n << 20n)).toEqual({ N: 1024, r: 8, p: 1 });
    expect(scryptParams(0n, 0n).N).toBe(2);
  });
});

describe("hostile signatures and files are refused with a clear message", () => {
  const target = () => join(tmp, "artifact.tar.gz");
  const sig = () => read("artifact.tar.gz.minisig");

  it("one flipped byte in the file", async () => {
    const bytes = readFileSync(target());
    bytes[bytes.length >> 1]! ^= 0x01;
    const e = await rejection(verifyFile(file("flipped", bytes), sig(), [theirs]));
    expect(e.code).toBe("permission_denied");
    expect(e.message).toMatch(/signature does not match .*flipped \(tampered or truncated\?\)/);
  });

  it("a truncated file", async () => {
    const bytes = readFileSync(target());
    const e = await rejection(verifyFile(file("truncated", bytes.subarray(0, bytes.length - 1)), sig(), [theirs]));
    expect(e.message).toMatch(/does not match .*tampered or truncated/);
  });

  it("a missing file", async () => {
    expect((await rejection(verifyFile(join(tmp, "nope"), sig(), [theirs]))).code).toBe("not_found");
  });

  it("a wrong key: the message names the signature's key id and the trusted ones", async () => {
    const e = await rejection(verifyFile(target(), sig(), [other], { signatureFile: "a.minisig" }));
    expect(e.code).toBe("permission_denied");
    expect(e.message).toBe(`a.minisig: signed by key id ${theirs.keyId}, which is not a trusted key (the trusted key ids are ${other.keyId}); add its public key to the trusted keys if you trust it`);
    expect((await rejection(verifyFile(target(), sig(), []))).message).toMatch(/no trusted keys were given/);
  });

  it("a signature by another key that claims the trusted key's id and comment", async () => {
    minisign(["-S", "-W", "-s", "b.key", "-m", "artifact.tar.gz", "-t", "version:1.2.3", "-x", "forged.minisig"]);
    const forged = parseSignatureText(read("forged.minisig"));
    const text = formatSignatureText({ ...forged, keyNum: theirs.keyNum, untrustedComment: "signature from minisign secret key" });
    const e = await rejection(verifyFile(target(), text, [theirs]));
    expect(e.message).toMatch(new RegExp(`does not match .* or it was made by another key that claims key id ${theirs.keyId}`));
    expect(minisignOk(["-V", "-p", "a.pub", "-m", "artifact.tar.gz", "-x", file("forged2.minisig", text)])).toBe(false);
  });

  it("an altered trusted comment", async () => {
    const text = sig().replace("trusted comment: version:1.2.3", "trusted comment: version:9.9.9");
    const e = await rejection(verifyFile(target(), text, [theirs]));
    expect(e.message).toMatch(/trusted comment was altered/);
    expect(minisignOk(["-V", "-p", "a.pub", "-m", "artifact.tar.gz", "-x", file("altered.minisig", text)])).toBe(false);
  });

  it("garbage, short and truncated base64 give the line number", async () => {
    const lines = sig().split("\n");
    const withLine = (i: number, s: string) => lines.map((l, j) => (j === i ? s : l)).join("\n");
    const cases: Array<[string, RegExp]> = [
      [withLine(1, "not base64 at all!"), /^sig:2: signature: malformed base64 \(it contains " " at column 4\)/],
      [withLine(1, lines[1]!.slice(0, 40)), /^sig:2: signature: decodes to 30 bytes, expected 74/],
      [withLine(1, lines[1]!.slice(0, 41)), /^sig:2: signature: malformed base64 \(its length 41 is not a multiple of 4\)/],
      [withLine(3, lines[3]!.slice(0, 20)), /^sig:4: global signature: decodes to 15 bytes, expected 64/],
      [withLine(3, ""), /^sig:4: (truncated signature|global signature: the line is empty)/],
      [lines.slice(0, 2).join("\n"), /^sig:\d: truncated signature/],
      ["", /^sig:1: not a minisign signature/],
      [withLine(0, "hello"), /^sig:1: not a minisign signature/],
      [withLine(2, "comment: x"), /^sig:3: line 3 must start with "trusted comment: "/],
    ];
    for (const [text, expected] of cases) expect((await rejection(verifyFile(target(), text, [theirs], { signatureFile: "sig" }))).message).toMatch(expected);
  });

  it("an unknown algorithm", async () => {
    const f = parseSignatureText(sig());
    const text = formatSignatureText(f).replace(/^.*\n(.*)\n/, (m, l1: string) => m.replace(l1, Buffer.concat([Buffer.from("Xx"), Buffer.from(l1, "base64").subarray(2)]).toString("base64")));
    expect((await rejection(verifyFile(target(), text, [theirs]))).message).toMatch(/:2: signature: unknown algorithm "Xx"/);
    expect(() => parsePublicKey(Buffer.concat([Buffer.from("Zz"), Buffer.alloc(40)]).toString("base64"))).toThrow(/unknown algorithm "Zz"/);
  });

  it("CRLF line ends are accepted (as minisign does); trailing spaces are not, except in the trusted comment, where they are signed", async () => {
    const crlf = sig().replace(/\n/g, "\r\n");
    expect(minisignOk(["-V", "-p", "a.pub", "-m", "artifact.tar.gz", "-x", file("crlf.minisig", crlf)])).toBe(true);
    expect((await verifyFile(target(), crlf, [theirs])).trustedComment).toBe("version:1.2.3");
    expect(parsePublicKey(read("a.pub").replace(/\n/g, "\r\n"))).toEqual(theirs);
    const lines = sig().split("\n");
    for (const i of [1, 3]) {
      const spaced = lines.map((l, j) => (j === i ? `${l} ` : l)).join("\n");
      expect(minisignOk(["-V", "-p", "a.pub", "-m", "artifact.tar.gz", "-x", file(`sp${i}.minisig`, spaced)])).toBe(false);
      expect((await rejection(verifyFile(target(), spaced, [theirs]))).message).toMatch(new RegExp(`:${i + 1}: .*malformed base64`));
    }
    const spaced3 = lines.map((l, j) => (j === 2 ? `${l} ` : l)).join("\n");
    expect(minisignOk(["-V", "-p", "a.pub", "-m", "artifact.tar.gz", "-x", file("sp2.minisig", spaced3)])).toBe(false);
    expect((await rejection(verifyFile(target(), spaced3, [theirs]))).message).toMatch(/trusted comment was altered/);
    expect((await rejection(verifyFile(target(), sig().replace("version:1.2.3", "version:1.2.3\r extra"), [theirs]))).message).toMatch(/:3: a carriage return inside a line/);
  });

  it("a signature without its final newline, or with lines after it, still verifies (as with minisign)", async () => {
    expect((await verifyFile(target(), sig().trimEnd(), [theirs])).keyId).toBe(theirs.keyId);
    expect((await verifyFile(target(), `${sig()}extra\n`, [theirs])).keyId).toBe(theirs.keyId);
  });

  it("the untrusted comment is not covered (editing it changes nothing); a trusted comment must be one line to be signed", async () => {
    const edited = sig().replace(/^untrusted comment: .*$/m, "untrusted comment: anything at all");
    expect((await verifyFile(target(), edited, [theirs])).trustedComment).toBe("version:1.2.3");
    const { secretKey } = await generateKeyPair();
    expect(() => signBytes(Buffer.from("x"), secretKey, { trustedComment: "a\nb" })).toThrow(/trusted comment must be one line/);
  });

  it("a damaged secret key is refused", async () => {
    const { secretKeyText } = await generateKeyPair();
    const lines = secretKeyText.split("\n");
    const b = Buffer.from(lines[1]!, "base64");
    b[70]! ^= 1; // inside the seed
    const e = await rejection(parseSecretKey([lines[0], b.toString("base64"), ""].join("\n"), { file: "k.key" }));
    expect(e.message).toMatch(/^k\.key:2: the secret key is damaged/);
    expect((await rejection(parseSecretKey("untrusted comment: x\nAAAA\n"))).message).toMatch(/decodes to 3 bytes, expected 158/);
  });
});

describe("large files are hashed as a stream", () => {
  it("a 100 MiB file signed by minisign verifies without its size in memory", async () => {
    const path = join(tmp, "big.bin");
    const fd = openSync(path, "w");
    const chunk = Buffer.alloc(1 << 20, 0x5a);
    for (let i = 0; i < 100; i++) writeSync(fd, chunk);
    closeSync(fd);
    minisign(["-S", "-W", "-s", "a.key", "-m", "big.bin"]);
    // Sample external memory (where file buffers live) while verifying: reading the file whole would hold 100 MiB at once.
    const base = process.memoryUsage().arrayBuffers;
    let peak = base;
    let samples = 0;
    const sampler = setInterval(() => ((peak = Math.max(peak, process.memoryUsage().arrayBuffers)), samples++), 1);
    try {
      expect((await verifyFile(path, read("big.bin.minisig"), [theirs])).keyId).toBe(theirs.keyId);
    } finally {
      clearInterval(sampler);
    }
    // Chunks already hashed wait for the GC, so some growth is normal; a whole read would be >= 100 MiB.
    expect(samples).toBeGreaterThan(0);
    expect(peak - base).toBeLessThan(64 * 1024 * 1024);
    rmSync(path);
  });

  it("a legacy signature, which needs the whole file in memory, is refused past 64 MiB by default", async () => {
    const path = join(tmp, "big-legacy.bin");
    const fd = openSync(path, "w");
    const chunk = Buffer.alloc(1 << 20, 0x33);
    for (let i = 0; i < 65; i++) writeSync(fd, chunk);
    closeSync(fd);
    minisign(["-S", "-l", "-W", "-s", "a.key", "-m", "big-legacy.bin"]);
    const e = await rejection(verifyFile(path, read("big-legacy.bin.minisig"), [theirs]));
    expect(e.message).toMatch(/legacy \(non-prehashed "Ed"\) signature over .* of 68157440 bytes; legacy signatures are accepted up to 67108864 bytes/);
    rmSync(path);
  });
});
