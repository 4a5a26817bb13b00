// `hsu key generate`, `hsu sign` and `hsu verify`: minisign keys and signatures from the command
// line, interchangeable with the `minisign` CLI's (docs/artifacts-signing.md).
import { chmod, open, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { HsuError } from "@hsu/client/hsu-error";
import { generateKeyPair, parsePublicKey, parseSecretKey, signFile, verifyFile, type PublicKey } from "../artifacts/minisign.ts";
import { paint, useColor } from "./color.ts";
import { usageError } from "./usage-error.ts";

type Values = Record<string, string | boolean | string[] | undefined>;

/** The environment variable holding the secret key's password, for `hsu key generate` and `hsu sign`. */
export const PASSWORD_ENV = "HSU_KEY_PASSWORD";
/** The environment variable naming the default secret key of `hsu sign`. */
export const KEY_ENV = "HSU_SIGNING_KEY";

// A bad key or signature file is a failure (exit 1), like an invalid hsu.yaml; exit 2 is kept for how hsu was called.
async function failing<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (HsuError.is(e, "invalid_argument")) throw new HsuError("failed_precondition", e.message, {}, { cause: e });
    throw e;
  }
}

/** `hsu key generate [-o DIR] [--name NAME] [--no-password]`. */
export async function runKey(values: Values, positionals: string[]): Promise<number> {
  if (positionals[0] !== "generate" || positionals.length > 1) throw usageError("key", positionals[0] ? `unknown key action "${positionals.join(" ")}"; the one action is \`generate\`` : "say what to do: `hsu key generate`", "generate");
  const name = String(values.name ?? "hsu");
  if (!/^[\w.-]+$/.test(name)) throw usageError("key generate", `--name "${name}" is not a plain file name (letters, digits, . _ -)`);
  const password = process.env[PASSWORD_ENV];
  if (values["no-password"] && password) throw usageError("key generate", `--no-password and ${PASSWORD_ENV} contradict each other: unset one`);
  if (!values["no-password"] && !password) {
    throw usageError("key generate", `set ${PASSWORD_ENV} to encrypt the secret key with that password, or pass --no-password to store it unencrypted (like \`minisign -G -W\`)`);
  }
  const dir = resolve(String(values.output ?? "."));
  const pubPath = join(dir, `${name}.pub`);
  const keyPath = join(dir, `${name}.key`);
  for (const p of [keyPath, pubPath]) {
    if (await exists(p)) throw new HsuError("already_exists", `${p} already exists; hsu never overwrites a key: remove it first or choose another --name`);
  }
  const pair = await generateKeyPair({ password: values["no-password"] ? undefined : password });
  await writeNew(keyPath, pair.secretKeyText, 0o600);
  try {
    await writeNew(pubPath, pair.publicKeyText, 0o644);
  } catch (e) {
    await rm(keyPath, { force: true }); // never one half of a pair
    throw e;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ keyId: pair.publicKey.keyId, publicKey: pair.publicKey.base64, publicKeyFile: pubPath, secretKeyFile: keyPath, encrypted: !values["no-password"] })}\n`);
    return 0;
  }
  const color = useColor();
  process.stdout.write(
    `${paint("✔", "green", color)} key ${pair.publicKey.keyId}: secret key ${keyPath} (${values["no-password"] ? "NOT encrypted" : `encrypted with ${PASSWORD_ENV}`}), public key ${pubPath}\n` +
      `sign:   hsu sign <file> -k ${keyPath}\n` +
      `verify: hsu verify <file> -p ${pubPath}   or   minisign -Vm <file> -P ${pair.publicKey.base64}\n`,
  );
  return 0;
}

/** `hsu sign <file...> [-k KEY] [-t COMMENT] [-x SIGFILE]`: writes `<file>.minisig` beside each file. */
export async function runSign(values: Values, positionals: string[]): Promise<number> {
  if (!positionals.length) throw usageError("sign", "name the file to sign", "<file...>");
  if (values.signature && positionals.length > 1) throw usageError("sign", "-x names one signature file, so it takes one file to sign", "<file...>");
  const keyPath = String(values.key ?? process.env[KEY_ENV] ?? "hsu.key");
  const keyText = await readText(keyPath, `secret key (give it with -k or ${KEY_ENV}; \`hsu key generate\` makes one)`);
  const secretKey = await failing(parseSecretKey(keyText, { password: process.env[PASSWORD_ENV], file: keyPath })).catch((e: unknown) => {
    if (HsuError.is(e, "failed_precondition") && /password-protected/.test(e.message)) throw new HsuError("failed_precondition", `${e.message}: set ${PASSWORD_ENV}`, {}, { cause: e });
    throw e;
  });
  const color = useColor();
  for (const file of positionals) {
    const sigPath = String(values.signature ?? `${file}.minisig`);
    const text = await failing(signFile(file, secretKey, { trustedComment: values["trusted-comment"] as string | undefined }));
    await writeAtomic(sigPath, text);
    if (!values.json) process.stdout.write(`${paint("✔", "green", color)} ${file}: signed by key ${secretKey.keyId} -> ${sigPath}\n`);
    else process.stdout.write(`${JSON.stringify({ file, signatureFile: sigPath, keyId: secretKey.keyId })}\n`);
  }
  return 0;
}

/** `hsu verify <file> -p PUBKEY [-p ...] [-x SIGFILE]`. */
export async function runVerify(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 1) throw usageError("verify", positionals.length ? "verify one file at a time" : "name the file to verify", "<file> -p <pubkey>");
  const keys = ([] as string[]).concat((values.pubkey as string | string[] | undefined) ?? []);
  if (!keys.length) throw usageError("verify", "give the trusted public key with -p (a .pub file or its base64 line)", "<file> -p <pubkey>");
  const trusted: PublicKey[] = [];
  for (const k of keys) trusted.push(await loadPublicKey(k));
  const file = positionals[0]!;
  const sigPath = String(values.signature ?? `${file}.minisig`);
  const sigText = await readText(sigPath, "signature file (give it with -x)");
  const v = await failing(verifyFile(file, sigText, trusted, { signatureFile: sigPath }));
  if (values.json) process.stdout.write(`${JSON.stringify({ file, valid: true, ...v })}\n`);
  else process.stdout.write(`${paint("✔", "green", useColor())} ${file}: good signature by key ${v.keyId}\ntrusted comment: ${v.trustedComment}\n`);
  return 0;
}

/** A `-p` value: a public key file, or the base64 line itself (as `minisign -P` takes). */
async function loadPublicKey(arg: string): Promise<PublicKey> {
  if (/^RW[A-Za-z0-9+/]{54}$/.test(arg) && !(await exists(arg))) return failing(Promise.resolve().then(() => parsePublicKey(arg, { file: "-p" })));
  const text = await readText(arg, "public key file (or give the key's base64 line)");
  return failing(Promise.resolve().then(() => parsePublicKey(text, { file: arg })));
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new HsuError("not_found", `${path}: no such ${what}`, {}, { cause: e });
    throw new HsuError("failed_precondition", `${path}: cannot read it (${(e as Error).message})`, {}, { cause: e });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

// "wx": created here or not at all (a file that appeared since the check is not overwritten); the mode is set
// explicitly so the umask cannot widen or narrow it.
async function writeNew(path: string, text: string, mode: number): Promise<void> {
  let fh;
  try {
    fh = await open(path, "wx", mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new HsuError("already_exists", `${path} already exists; hsu never overwrites a key`, {}, { cause: e });
    if (code === "ENOENT") throw new HsuError("not_found", `${path}: its directory does not exist (create it, or choose another -o)`, {}, { cause: e });
    throw HsuError.from(e);
  }
  try {
    await fh.chmod(mode);
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

// A reader never sees half a signature: write beside it, then rename over.
async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = join(resolve(path, ".."), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fh = await open(tmp, "w", 0o644);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, 0o644);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw HsuError.from(e);
  }
}
