import { HsuError } from "@hsu/client/hsu-error";
import { armor, Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { randomBytes } from "node:crypto";
import { linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkSecretName } from "./names.ts";

/** The largest secret the store takes (a key, a certificate chain, a small config file: not a data set). */
export const MAX_SECRET_BYTES = 1024 * 1024;

/** One stored secret as `hsu secret list` shows it: never its value. */
export interface SecretInfo {
  readonly name: string;
  /** Size of the encrypted file (the value is a little smaller). */
  readonly bytes: number;
  /** When the file was last written (ms since the epoch). */
  readonly modified: number;
}

/**
 * The secrets of one state dir, encrypted at rest with age: the master's
 * X25519 identity in `<state>/secrets/identity.txt` (0600, made on first
 * use, in age-keygen's format), each secret in `<state>/secrets/<name>.age`
 * encrypted to its recipient - so `age -d -i identity.txt x.age` reads one,
 * and a file made elsewhere with `age -r <recipient> -o x.age` is one.
 */
export interface SecretStore {
  readonly dir: string;
  readonly identityFile: string;
  /** The public key secrets are encrypted to (creates the identity the first time). */
  recipient(): Promise<string>;
  /** Encrypts `value` to the recipient and writes `<name>.age` atomically (mode 0600). */
  set(name: string, value: Uint8Array): Promise<void>;
  /** Every stored secret, by name. */
  list(): SecretInfo[];
  /** Removes `<name>.age`; false when there was none. */
  remove(name: string): boolean;
  /** Where `<name>.age` is. */
  fileOf(name: string): string;
  /**
   * The value of `name`, decrypted in memory with the identity. Throws
   * `not_found` when it is not set, `failed_precondition` when it cannot
   * be decrypted (corrupted, or encrypted to another recipient), each
   * naming the file and what to do.
   */
  decrypt(name: string): Promise<Uint8Array>;
}

const IDENTITY_PREFIX = "AGE-SECRET-KEY-1";
const ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----";

/** Opens the store of `stateDir` (nothing is created until it is needed). */
export function createSecretStore(stateDir: string): SecretStore {
  const dir = join(stateDir, "secrets");
  const identityFile = join(dir, "identity.txt");
  const ensureDir = () => mkdirSync(dir, { recursive: true, mode: 0o700 });

  const readIdentity = (): string | undefined => {
    let text: string;
    try {
      const st = lstatSync(identityFile);
      if (!st.isFile()) throw new HsuError("failed_precondition", `${identityFile} is not a regular file; remove it (a new identity is made) or put the master's identity there`);
      if (st.mode & 0o077) {
        throw new HsuError("failed_precondition", `${identityFile} is readable by others (mode 0${(st.mode & 0o777).toString(8)}): \`chmod 600 ${identityFile}\``);
      }
      text = readFileSync(identityFile, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    const keys = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.startsWith(IDENTITY_PREFIX));
    if (keys.length !== 1) {
      throw new HsuError("failed_precondition", `${identityFile} holds ${keys.length} ${IDENTITY_PREFIX}... lines, expected one (the file age-keygen writes)`);
    }
    return keys[0]!;
  };

  // Made with link(2): of two processes creating it at once, one wins and both use its identity.
  const createIdentity = async (): Promise<string> => {
    ensureDir();
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const tmp = `${identityFile}.${randomBytes(6).toString("hex")}.tmp`;
    writeFileSync(tmp, `# created: ${new Date().toISOString()}\n# public key: ${recipient}\n${identity}\n`, { mode: 0o600, flag: "wx" });
    try {
      linkSync(tmp, identityFile);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      unlinkSync(tmp);
    }
    return readIdentity()!;
  };
  const identity = async () => readIdentity() ?? (await createIdentity());
  const fileOf = (name: string) => join(dir, `${checkSecretName(name)}.age`);

  return {
    dir,
    identityFile,
    fileOf,
    recipient: async () => identityToRecipient(await identity()),
    async set(name, value) {
      const file = fileOf(name);
      if (value.byteLength > MAX_SECRET_BYTES) {
        throw new HsuError("invalid_argument", `secret "${name}" is ${value.byteLength} bytes; at most ${MAX_SECRET_BYTES} are stored (keep large files elsewhere and store their key)`);
      }
      const e = new Encrypter();
      e.addRecipient(await identityToRecipient(await identity()));
      const sealed = await e.encrypt(value);
      const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
      writeFileSync(tmp, sealed, { mode: 0o600, flag: "wx" });
      renameSync(tmp, file);
    },
    list() {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return [];
      }
      return names
        .filter((n) => n.endsWith(".age"))
        .flatMap((n) => {
          try {
            const st = statSync(join(dir, n));
            return st.isFile() ? [{ name: n.slice(0, -4), bytes: st.size, modified: st.mtimeMs }] : [];
          } catch {
            return [];
          }
        })
        .sort((a, b) => a.name.localeCompare(b.name));
    },
    remove(name) {
      const file = fileOf(name);
      try {
        lstatSync(file);
      } catch {
        return false;
      }
      rmSync(file, { force: true });
      return true;
    },
    async decrypt(name) {
      const file = fileOf(name);
      let sealed: Buffer;
      try {
        sealed = readFileSync(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") {
          throw new HsuError("not_found", `secret "${name}" is not set (no ${file}): run \`hsu secret set ${name}\`, or encrypt it elsewhere with \`age -r $(hsu secret recipient) -o ${name}.age\` and copy it there`);
        }
        throw new HsuError("unavailable", `secret "${name}": cannot read ${file} (${(e as Error).message})`);
      }
      const id = readIdentity();
      if (!id) throw new HsuError("failed_precondition", `secret "${name}" cannot be decrypted: there is no identity at ${identityFile} (it was removed?); put the identity it was encrypted to back, or set the secret again`);
      const d = new Decrypter();
      d.addIdentity(id);
      try {
        const head = sealed.subarray(0, ARMOR_BEGIN.length + 64).toString("latin1").trimStart();
        return await d.decrypt(head.startsWith(ARMOR_BEGIN) ? armor.decode(sealed.toString("latin1")) : sealed);
      } catch (e) {
        const why = (e as Error).message;
        const fix = /no identity matched/.test(why)
          ? `it was encrypted to another recipient than this master's (${await identityToRecipient(id)}); encrypt it again to \`hsu secret recipient\``
          : "the file is corrupted or not an age file; set the secret again with `hsu secret set`";
        throw new HsuError("failed_precondition", `secret "${name}" cannot be decrypted from ${file} (${why}): ${fix}`);
      }
    },
  };
}
