// minisign signatures (https://jedisct1.github.io/minisign/): verify what the `minisign` CLI signs,
// sign what it verifies, and make keys it uses. Ed25519, BLAKE2b-512 and scrypt are Node's own
// (OpenSSL); only BLAKE2b-256, the secret-key checksum, which Node cannot size, comes from @noble/hashes.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, scrypt, sign, verify, type KeyObject } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { pipeline } from "node:stream/promises";
import { blake2b } from "@noble/hashes/blake2.js";
import { HsuError } from "@hsu/client/hsu-error";
import {
  ALG_ED,
  ALG_ED_HASHED,
  formatPublicKeyText,
  formatSecretKeyText,
  formatSignatureText,
  keyIdHex,
  parsePublicKeyText,
  parseSecretKeyText,
  parseSignatureText,
  publicKeyBase64,
  type SignatureFields,
  type Source,
} from "./minisign-format.ts";

export { keyIdHex } from "./minisign-format.ts";

/** A trusted minisign public key. `keyId` is the id minisign prints (e.g. in `minisign public key B5E6...`). */
export interface PublicKey {
  readonly keyId: string;
  /** The 8 key-id bytes as stored in keys and signatures. */
  readonly keyNum: Buffer;
  /** The 32-byte Ed25519 public key. */
  readonly key: Buffer;
  readonly untrustedComment: string;
  /** The one-line base64 form (`minisign -P <this>`). */
  readonly base64: string;
}

/** A decrypted secret key: what signing needs. Keep it in memory only as long as needed. */
export interface SecretKey {
  readonly keyId: string;
  readonly keyNum: Buffer;
  /** The 32-byte Ed25519 seed (libsodium's sk is seed || public key). */
  readonly seed: Buffer;
  readonly publicKey: PublicKey;
}

/** What a good signature tells: which trusted key made it and the comment it vouches for. */
export interface Verified {
  readonly keyId: string;
  readonly trustedComment: string;
  /** "ED" (BLAKE2b-512 prehashed, minisign's default) or "Ed" (legacy, over the raw bytes). */
  readonly algorithm: "ED" | "Ed";
}

/** Options of `verifyFile` / `verifyBytes`. */
export interface VerifyOptions {
  /** Names the signature in error messages (default: `<file>.minisig`, or "signature"). */
  signatureFile?: string;
  /**
   * Legacy "Ed" signatures cover the raw bytes, so verifying one reads the whole file into memory;
   * files larger than this are refused (default 64 MiB). 0 refuses legacy signatures altogether.
   */
  legacyMaxBytes?: number;
}

/** Options of `signFile` / `signBytes`. */
export interface SignOptions {
  /** Signed with the file (default, as minisign: `timestamp:<unix seconds>\tfile:<name>\thashed`). */
  trustedComment?: string;
  /** Unsigned first line (default `signature from hsu secret key`). */
  untrustedComment?: string;
  /** Make a legacy "Ed" signature over the raw bytes (reads the whole file); default: prehashed "ED". */
  legacy?: boolean;
  /** The name in the default trusted comment (default: the file's basename). */
  fileName?: string;
  /** Seconds since the epoch for the default trusted comment (default: now). */
  now?: () => number;
}

/** scrypt cost as stored in minisign secret keys (libsodium's opslimit / memlimit). */
export interface KdfLimits {
  opsLimit: bigint;
  memLimit: bigint;
}

/** What minisign 0.11 uses: libsodium's scryptsalsa208sha256 "sensitive" limits (N=2^20, r=8, p=1: 1 GiB). */
export const MINISIGN_KDF: KdfLimits = { opsLimit: 33554432n, memLimit: 1073741824n };

const DEFAULT_LEGACY_MAX = 64 * 1024 * 1024;

/** Parses a public key: a minisign `.pub` file's text, or the bare base64 line `minisign -P` takes. */
export function parsePublicKey(text: string, source: Source = {}): PublicKey {
  const f = parsePublicKeyText(text, source);
  return publicKeyFrom(f.keyNum, f.key, f.untrustedComment);
}

/** A `.pub` file's text, as minisign writes it. */
export function formatPublicKey(key: PublicKey): string {
  return formatPublicKeyText(key);
}

function publicKeyFrom(keyNum: Buffer, key: Buffer, untrustedComment?: string): PublicKey {
  const keyId = keyIdHex(keyNum);
  return Object.freeze({
    keyId,
    keyNum: Buffer.from(keyNum),
    key: Buffer.from(key),
    untrustedComment: untrustedComment || `minisign public key ${keyId}`,
    base64: publicKeyBase64(keyNum, key),
  });
}

const jwk = (b: Buffer) => b.toString("base64url");
const edPublic = (key: Buffer): KeyObject => createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk(key) }, format: "jwk" });
const edPrivate = (seed: Buffer, key: Buffer): KeyObject => createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d: jwk(seed), x: jwk(key) }, format: "jwk" });

/** Verifies `signatureText` over the bytes `data` against the trusted keys. Throws HsuError when it does not hold. */
export function verifyBytes(data: Uint8Array, signatureText: string, trustedKeys: readonly PublicKey[], options: VerifyOptions = {}): Verified {
  const src = { file: options.signatureFile ?? "signature" };
  const sig = parseSignatureText(signatureText, src);
  const candidates = trustedFor(sig, trustedKeys, src);
  const message = sig.algorithm === ALG_ED_HASHED ? createHash("blake2b512").update(data).digest() : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (sig.algorithm === ALG_ED) checkLegacySize(data.byteLength, options, src, "the data");
  return conclude(sig, candidates, message, "the data", src);
}

/**
 * Verifies `signatureText` (a `.minisig` file's content) over the file at `path` against the trusted
 * keys. A prehashed signature (minisign's default) is checked by hashing the file as a stream, so a
 * file of any size costs constant memory. Throws HsuError saying what failed.
 */
export async function verifyFile(path: string, signatureText: string, trustedKeys: readonly PublicKey[], options: VerifyOptions = {}): Promise<Verified> {
  const src = { file: options.signatureFile ?? `${path}.minisig` };
  const sig = parseSignatureText(signatureText, src);
  const candidates = trustedFor(sig, trustedKeys, src);
  const message = sig.algorithm === ALG_ED_HASHED ? await hashFile(path) : await readLegacy(path, options, src);
  return conclude(sig, candidates, message, path, src);
}

/** BLAKE2b-512 of a file, read as a stream (never whole). */
export async function hashFile(path: string): Promise<Buffer> {
  const hash = createHash("blake2b512");
  try {
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  } catch (e) {
    throw fileError(e, path);
  }
  return hash.digest();
}

async function readLegacy(path: string, options: VerifyOptions, src: Source): Promise<Buffer> {
  const { readFile } = await import("node:fs/promises");
  try {
    checkLegacySize((await stat(path)).size, options, src, path);
    return await readFile(path);
  } catch (e) {
    throw HsuError.is(e) ? e : fileError(e, path);
  }
}

function checkLegacySize(size: number, options: VerifyOptions, src: Source, what: string): void {
  const max = options.legacyMaxBytes ?? DEFAULT_LEGACY_MAX;
  if (size > max) {
    throw new HsuError(
      "failed_precondition",
      `legacy (non-prehashed "Ed") signature over ${what} of ${size} bytes; legacy signatures are accepted up to ${max} bytes: sign again with minisign 0.11's default (prehashed) or \`hsu sign\``,
      { file: src.file, line: 2 },
    );
  }
}

function fileError(e: unknown, path: string): HsuError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return new HsuError("not_found", `${path}: no such file`, {}, { cause: e });
  return new HsuError("failed_precondition", `${path}: cannot read it (${(e as Error).message})`, {}, { cause: e });
}

function trustedFor(sig: SignatureFields, keys: readonly PublicKey[], src: Source): PublicKey[] {
  const id = keyIdHex(sig.keyNum);
  const found = keys.filter((k) => k.keyNum.equals(sig.keyNum));
  if (found.length) return found;
  const trusted = keys.length ? `the trusted key ids are ${keys.map((k) => k.keyId).join(", ")}` : "no trusted keys were given";
  throw new HsuError("permission_denied", `signed by key id ${id}, which is not a trusted key (${trusted}); add its public key to the trusted keys if you trust it`, { file: src.file });
}

// minisign checks the file signature, then the global one over sig || trusted comment. When the
// global one fails, the file signature tells an altered comment from a signature by another key.
function conclude(sig: SignatureFields, keys: PublicKey[], message: Buffer, what: string, src: Source): Verified {
  const global = Buffer.concat([sig.signature, Buffer.from(sig.trustedComment, "utf8")]);
  let fileOk = false;
  for (const k of keys) {
    const pub = edPublic(k.key);
    const okFile = verify(null, message, pub, sig.signature);
    fileOk ||= okFile;
    if (okFile && verify(null, global, pub, sig.globalSignature)) return { keyId: k.keyId, trustedComment: sig.trustedComment, algorithm: sig.algorithm };
  }
  const id = keyIdHex(sig.keyNum);
  if (fileOk) throw new HsuError("permission_denied", `trusted comment was altered: the signature matches ${what} but not its trusted comment (line 3)`, { file: src.file });
  throw new HsuError("permission_denied", `signature does not match ${what} (tampered or truncated?), or it was made by another key that claims key id ${id}`, { file: src.file });
}

/** Signs bytes; returns the `.minisig` text. */
export function signBytes(data: Uint8Array, secretKey: SecretKey, options: SignOptions = {}): string {
  const message = options.legacy ? data : createHash("blake2b512").update(data).digest();
  return signMessage(message, secretKey, options, options.fileName ?? "data");
}

/** Signs the file at `path` (prehashed as a stream, as minisign 0.11 does by default); returns the `.minisig` text. */
export async function signFile(path: string, secretKey: SecretKey, options: SignOptions = {}): Promise<string> {
  const message = options.legacy ? await readLegacy(path, { legacyMaxBytes: Number.MAX_SAFE_INTEGER }, {}) : await hashFile(path);
  return signMessage(message, secretKey, options, options.fileName ?? basename(path));
}

function signMessage(message: Uint8Array, sk: SecretKey, options: SignOptions, name: string): string {
  const algorithm = options.legacy ? ALG_ED : ALG_ED_HASHED;
  const now = options.now?.() ?? Math.floor(Date.now() / 1000);
  const trustedComment = options.trustedComment || `timestamp:${now}\tfile:${name}${options.legacy ? "" : "\thashed"}`;
  const key = edPrivate(sk.seed, sk.publicKey.key);
  const signature = sign(null, message, key);
  const globalSignature = sign(null, Buffer.concat([signature, Buffer.from(trustedComment, "utf8")]), key);
  return formatSignatureText({ algorithm, keyNum: sk.keyNum, signature, trustedComment, globalSignature, untrustedComment: options.untrustedComment ?? "signature from hsu secret key" });
}

/** Options of `parseSecretKey`. */
export interface SecretKeyOptions {
  /** The password of an encrypted ("Sc") key. */
  password?: string;
  /** Names the key file in error messages. */
  file?: string;
}

/** Parses (and decrypts, for a password-protected key) a minisign secret key file. */
export async function parseSecretKey(text: string, options: SecretKeyOptions = {}): Promise<SecretKey> {
  const src = { file: options.file ?? "secret key" };
  const f = parseSecretKeyText(text, src);
  const body = Buffer.from(f.keynumSk);
  if (f.kdf === "Sc") {
    if (options.password === undefined) throw new HsuError("failed_precondition", "the secret key is password-protected: a password is needed to use it", src);
    const stream = await kdfStream(options.password, f.salt, f, src);
    for (let i = 0; i < body.length; i++) body[i]! ^= stream[i]!;
  }
  const keyNum = body.subarray(0, 8);
  const seed = body.subarray(8, 40);
  const pub = body.subarray(40, 72);
  const chk = body.subarray(72, 104);
  // minisign -W writes an all-zero checksum (it checks none without a password); any other is checked.
  const badChk = (f.kdf === "Sc" || !chk.equals(Buffer.alloc(32))) && !chk.equals(checksum(keyNum, body.subarray(8, 72)));
  if (badChk) {
    throw new HsuError(f.kdf === "Sc" ? "unauthenticated" : "invalid_argument", f.kdf === "Sc" ? "wrong password for this secret key (its checksum does not match)" : "the secret key is damaged (its checksum does not match)", { file: src.file, line: 2 });
  }
  if (!derivedPublic(seed).equals(pub)) throw new HsuError("invalid_argument", "the secret key is damaged (its public half does not belong to its seed)", { file: src.file, line: 2 });
  return Object.freeze({ keyId: keyIdHex(keyNum), keyNum: Buffer.from(keyNum), seed: Buffer.from(seed), publicKey: publicKeyFrom(keyNum, pub) });
}

/** Options of `formatSecretKey` / `generateKeyPair`. */
export interface SecretKeyFormatOptions {
  /** Encrypt the key with this password (scrypt, as minisign). Without one the key is stored in clear, like `minisign -G -W`. */
  password?: string;
  /** scrypt cost (default MINISIGN_KDF, what minisign uses). */
  kdf?: KdfLimits;
  untrustedComment?: string;
}

/** A secret key file's text, as minisign writes it. */
export async function formatSecretKey(sk: SecretKey, options: SecretKeyFormatOptions = {}): Promise<string> {
  const skBytes = Buffer.concat([sk.seed, sk.publicKey.key]);
  const body = Buffer.concat([sk.keyNum, skBytes, checksum(sk.keyNum, skBytes)]);
  const limits = options.password === undefined ? { opsLimit: 0n, memLimit: 0n } : (options.kdf ?? MINISIGN_KDF);
  const salt = options.password === undefined ? Buffer.alloc(32) : randomBytes(32);
  if (options.password !== undefined) {
    const stream = await kdfStream(options.password, salt, limits, {});
    for (let i = 0; i < body.length; i++) body[i]! ^= stream[i]!;
  }
  const untrustedComment = options.untrustedComment ?? (options.password === undefined ? "minisign secret key (not encrypted)" : "minisign encrypted secret key");
  return formatSecretKeyText({ kdf: options.password === undefined ? "none" : "Sc", salt, ...limits, keynumSk: body, untrustedComment });
}

/** A new key pair with a random key id, and its `.pub` / `.key` texts. */
export async function generateKeyPair(options: SecretKeyFormatOptions = {}): Promise<{ publicKey: PublicKey; secretKey: SecretKey; publicKeyText: string; secretKeyText: string }> {
  const { privateKey } = generateKeyPairSync("ed25519");
  const j = privateKey.export({ format: "jwk" });
  const keyNum = randomBytes(8);
  const publicKey = publicKeyFrom(keyNum, Buffer.from(j.x!, "base64url"));
  const secretKey: SecretKey = Object.freeze({ keyId: publicKey.keyId, keyNum, seed: Buffer.from(j.d!, "base64url"), publicKey });
  return { publicKey, secretKey, publicKeyText: formatPublicKey(publicKey), secretKeyText: await formatSecretKey(secretKey, options) };
}

const checksum = (keyNum: Uint8Array, sk: Uint8Array): Buffer => Buffer.from(blake2b(Buffer.concat([Buffer.from(ALG_ED, "latin1"), keyNum, sk]), { dkLen: 32 }));

function derivedPublic(seed: Buffer): Buffer {
  const k = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  return Buffer.from(createPublicKey(k).export({ format: "jwk" }).x!, "base64url");
}
// The DER header of a PKCS#8 Ed25519 private key (RFC 8410); the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/**
 * scrypt parameters from libsodium's opslimit/memlimit, as crypto_pwhash_scryptsalsa208sha256
 * picks them (its `pickparams`), so a key minisign encrypted decrypts here and the other way round.
 */
export function scryptParams(opsLimit: bigint, memLimit: bigint): { N: number; r: number; p: number } {
  const ops = opsLimit < 32768n ? 32768n : opsLimit;
  const r = 8n;
  const log2Above = (maxN: bigint) => {
    let n = 1n;
    while (n < 63n && !(1n << n > maxN / 2n)) n++;
    return n;
  };
  let nLog2: bigint;
  let p: bigint;
  if (ops < memLimit / 32n) {
    p = 1n;
    nLog2 = log2Above(ops / (r * 4n));
  } else {
    nLog2 = log2Above(memLimit / (r * 128n));
    let maxrp = ops / 4n / (1n << nLog2);
    if (maxrp > 0x3fffffffn) maxrp = 0x3fffffffn;
    p = maxrp / r;
  }
  return { N: Number(1n << nLog2), r: Number(r), p: Number(p) };
}

// More than minisign ever asks (1 GiB, p=1): a key file asking for more is refused, not obeyed.
const SCRYPT_MAX_MEMORY = 2 * 1024 * 1024 * 1024;
const SCRYPT_MAX_P = 16;

function kdfStream(password: string, salt: Buffer, limits: KdfLimits, src: Source): Promise<Buffer> {
  const { N, r, p } = scryptParams(limits.opsLimit, limits.memLimit);
  const memory = 128 * r * (N + p + 2);
  if (memory > SCRYPT_MAX_MEMORY || p < 1 || p > SCRYPT_MAX_P) {
    return Promise.reject(new HsuError("invalid_argument", `the secret key asks for scrypt N=${N} r=${r} p=${p} (${memory} bytes); HSU allows at most ${SCRYPT_MAX_MEMORY} bytes and p <= ${SCRYPT_MAX_P}`, { file: src.file, line: 2 }));
  }
  return new Promise((resolve, reject) =>
    scrypt(password, salt, 104, { N, r, p, maxmem: memory + (1 << 20) }, (err, key) => (err ? reject(HsuError.from(err)) : resolve(key))),
  );
}
