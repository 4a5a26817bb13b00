// The minisign text formats (public keys, `.minisig` signatures, secret keys): lines, base64 and
// byte layouts only. The cryptography is in minisign.ts; both follow minisign 0.11 byte for byte.
import { HsuError } from "@hsu/client/hsu-error";

/** "Ed": the key algorithm, and a legacy signature over the file's raw bytes. */
export const ALG_ED = "Ed";
/** "ED": a signature over the file's BLAKE2b-512 hash (what minisign 0.11 makes by default). */
export const ALG_ED_HASHED = "ED";
export const UNTRUSTED_PREFIX = "untrusted comment: ";
export const TRUSTED_PREFIX = "trusted comment: ";
// minisign reads these lines with fgets into fixed buffers (COMMENTMAXBYTES, TRUSTEDCOMMENTMAXBYTES).
const UNTRUSTED_MAX = 1024 - UNTRUSTED_PREFIX.length - 1;
const TRUSTED_MAX = 8192 - TRUSTED_PREFIX.length - 1;

/** Where a parse error points: the file name used in messages (or a description). */
export interface Source {
  file?: string;
}

/** The layout of a signature file (alg || key id || sig, trusted comment, global sig). */
export interface SignatureFields {
  algorithm: typeof ALG_ED | typeof ALG_ED_HASHED;
  keyNum: Buffer;
  signature: Buffer;
  trustedComment: string;
  globalSignature: Buffer;
  untrustedComment: string;
}

/** The layout of a public key (alg "Ed" || key id || 32-byte Ed25519 key). */
export interface PublicKeyFields {
  keyNum: Buffer;
  key: Buffer;
  untrustedComment: string;
}

/** The layout of a secret key file, still encrypted when kdf is "Sc". */
export interface SecretKeyFields {
  kdf: "Sc" | "none";
  salt: Buffer;
  opsLimit: bigint;
  memLimit: bigint;
  /** keynum(8) || sk(64) || chk(32), XORed with the scrypt stream when kdf is "Sc". */
  keynumSk: Buffer;
  untrustedComment: string;
}

/**
 * A key id as minisign prints it: the 8 bytes read as a little-endian u64,
 * in upper-case hex without leading zeros (its `%" PRIX64 "`), so one key in
 * 16 has a 15-digit id.
 */
export function keyIdHex(keyNum: Uint8Array): string {
  return Buffer.from(keyNum).reverse().toString("hex").toUpperCase().replace(/^0+(?=.)/, "");
}

const fail = (src: Source, line: number | undefined, message: string): HsuError =>
  new HsuError("invalid_argument", message, { file: src.file, line });

/** Lines as minisign's fgets+trim sees them: split at LF, a trailing CR dropped (CRLF files verify). */
function lines(text: string, src: Source): string[] {
  const out = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  out.forEach((l, i) => {
    // minisign cuts a line at its first CR, so bytes after one would be silently unsigned: refuse instead.
    if (l.includes("\r")) throw fail(src, i + 1, "a carriage return inside a line; a minisign file has one item per line");
  });
  return out;
}

/** Strict standard base64 (padding required, no whitespace), as minisign's b64_to_bin accepts it. */
export function decodeBase64(s: string, bytes: number, what: string, src: Source, line?: number): Buffer {
  if (s.length === 0) throw fail(src, line, `${what}: the line is empty, expected base64 of ${bytes} bytes`);
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    const bad = s.match(/[^A-Za-z0-9+/=]/);
    const why = bad ? `it contains ${JSON.stringify(bad[0])} at column ${bad.index! + 1}` : `its length ${s.length} is not a multiple of 4`;
    throw fail(src, line, `${what}: malformed base64 (${why}); expected base64 of ${bytes} bytes`);
  }
  const b = Buffer.from(s, "base64");
  if (b.length !== bytes) throw fail(src, line, `${what}: decodes to ${b.length} bytes, expected ${bytes} (truncated or not a minisign file?)`);
  return b;
}

function algorithmOf(b: Buffer, what: string, src: Source, line: number): string {
  const alg = b.subarray(0, 2).toString("latin1");
  if (alg !== ALG_ED && alg !== ALG_ED_HASHED) throw fail(src, line, `${what}: unknown algorithm ${JSON.stringify(alg)} (minisign knows "Ed" and "ED")`);
  return alg;
}

/** Parses a `.minisig` file: untrusted comment, signature, trusted comment, global signature. */
export function parseSignatureText(text: string, src: Source = {}): SignatureFields {
  const l = lines(text, src);
  if (!l[0]?.startsWith(UNTRUSTED_PREFIX)) throw fail(src, 1, `not a minisign signature: line 1 must start with "${UNTRUSTED_PREFIX}"`);
  if (l.length < 4 || (l.length === 4 && l[3] === "")) throw fail(src, Math.min(l.length, 4), "truncated signature: a minisign signature has 4 lines (comment, signature, trusted comment, global signature)");
  if (l[0].length - UNTRUSTED_PREFIX.length > UNTRUSTED_MAX) throw fail(src, 1, "untrusted comment too long");
  const sig = decodeBase64(l[1]!, 74, "signature", src, 2);
  const algorithm = algorithmOf(sig, "signature", src, 2) as SignatureFields["algorithm"];
  if (!l[2]!.startsWith(TRUSTED_PREFIX)) throw fail(src, 3, `line 3 must start with "${TRUSTED_PREFIX}"`);
  const trustedComment = l[2]!.slice(TRUSTED_PREFIX.length);
  if (Buffer.byteLength(trustedComment) > TRUSTED_MAX) throw fail(src, 3, `trusted comment too long (over ${TRUSTED_MAX} bytes)`);
  const globalSignature = decodeBase64(l[3]!, 64, "global signature", src, 4);
  return { algorithm, keyNum: sig.subarray(2, 10), signature: sig.subarray(10), trustedComment, globalSignature, untrustedComment: l[0].slice(UNTRUSTED_PREFIX.length) };
}

/** Formats a `.minisig` file as minisign writes it (LF line ends, final LF). */
export function formatSignatureText(f: SignatureFields): string {
  checkOneLine(f.untrustedComment, "untrusted comment", UNTRUSTED_MAX);
  checkOneLine(f.trustedComment, "trusted comment", TRUSTED_MAX);
  const sig = Buffer.concat([Buffer.from(f.algorithm, "latin1"), f.keyNum, f.signature]).toString("base64");
  return `${UNTRUSTED_PREFIX}${f.untrustedComment}\n${sig}\n${TRUSTED_PREFIX}${f.trustedComment}\n${f.globalSignature.toString("base64")}\n`;
}

/**
 * Parses a public key: a `.pub` file (comment line, then base64) or the bare base64 one-liner
 * that `minisign -P` takes. Like minisign, the comment line's content is not checked.
 */
export function parsePublicKeyText(text: string, src: Source = {}): PublicKeyFields {
  const l = lines(text.replace(/\n+$/, ""), src);
  const [comment, b64, line] = l.length === 1 ? ["", l[0]!, 1] : [l[0]!, l[1]!, 2];
  if (l.length > 2) throw fail(src, 3, "a minisign public key has at most 2 lines (comment, base64 key)");
  const b = decodeBase64(b64, 42, "public key", src, line);
  if (b.subarray(0, 2).toString("latin1") !== ALG_ED) throw fail(src, line, `public key: unknown algorithm ${JSON.stringify(b.subarray(0, 2).toString("latin1"))} (expected "Ed")`);
  return { keyNum: b.subarray(2, 10), key: b.subarray(10), untrustedComment: comment.startsWith(UNTRUSTED_PREFIX) ? comment.slice(UNTRUSTED_PREFIX.length) : comment };
}

/** The bare base64 form of a public key (what `minisign -P` takes). */
export function publicKeyBase64(keyNum: Uint8Array, key: Uint8Array): string {
  return Buffer.concat([Buffer.from(ALG_ED, "latin1"), keyNum, key]).toString("base64");
}

/** A `.pub` file as minisign writes it. */
export function formatPublicKeyText(f: PublicKeyFields): string {
  checkOneLine(f.untrustedComment, "untrusted comment", UNTRUSTED_MAX);
  return `${UNTRUSTED_PREFIX}${f.untrustedComment}\n${publicKeyBase64(f.keyNum, f.key)}\n`;
}

/** Parses a secret key file: "Ed" || kdf || "B2" || salt || opslimit || memlimit || keynum_sk. */
export function parseSecretKeyText(text: string, src: Source = {}): SecretKeyFields {
  const l = lines(text, src);
  if (l.length < 2) throw fail(src, 1, "truncated secret key: a minisign secret key has 2 lines (comment, base64 key)");
  const b = decodeBase64(l[1]!, 158, "secret key", src, 2);
  const alg = b.subarray(0, 2).toString("latin1");
  if (alg !== ALG_ED) throw fail(src, 2, `secret key: unknown algorithm ${JSON.stringify(alg)} (expected "Ed")`);
  const kdfBytes = b.subarray(2, 4);
  const kdf = kdfBytes.toString("latin1") === "Sc" ? "Sc" : kdfBytes.equals(Buffer.alloc(2)) ? "none" : undefined;
  if (!kdf) throw fail(src, 2, `secret key: unknown key derivation ${JSON.stringify(kdfBytes.toString("latin1"))} (minisign knows "Sc" and none)`);
  const chk = b.subarray(4, 6).toString("latin1");
  if (chk !== "B2") throw fail(src, 2, `secret key: unknown checksum ${JSON.stringify(chk)} (expected "B2")`);
  return {
    kdf,
    salt: b.subarray(6, 38),
    opsLimit: b.readBigUInt64LE(38),
    memLimit: b.readBigUInt64LE(46),
    keynumSk: Buffer.from(b.subarray(54, 158)),
    untrustedComment: l[0]!.startsWith(UNTRUSTED_PREFIX) ? l[0]!.slice(UNTRUSTED_PREFIX.length) : l[0]!,
  };
}

/** A secret key file as minisign writes it (keynumSk already encrypted when kdf is "Sc"). */
export function formatSecretKeyText(f: SecretKeyFields): string {
  checkOneLine(f.untrustedComment, "untrusted comment", UNTRUSTED_MAX);
  const head = Buffer.alloc(54);
  head.write(ALG_ED, 0, "latin1");
  if (f.kdf === "Sc") head.write("Sc", 2, "latin1");
  head.write("B2", 4, "latin1");
  f.salt.copy(head, 6);
  head.writeBigUInt64LE(f.opsLimit, 38);
  head.writeBigUInt64LE(f.memLimit, 46);
  return `${UNTRUSTED_PREFIX}${f.untrustedComment}\n${Buffer.concat([head, f.keynumSk]).toString("base64")}\n`;
}

function checkOneLine(s: string, what: string, max: number): void {
  if (/[\r\n]/.test(s)) throw new HsuError("invalid_argument", `${what} must be one line (it contains a line break)`);
  if (Buffer.byteLength(s) > max) throw new HsuError("invalid_argument", `${what} too long (${Buffer.byteLength(s)} bytes, minisign reads at most ${max})`);
}
