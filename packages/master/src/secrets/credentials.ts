import { HsuError, type CredentialGrant, type CredentialProvider, type Redactor } from "@hsu/client";
import { randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { SecretStore } from "./store.ts";

/** One secret a unit gets (hsu.yaml `secrets:`): as a file in its credentials dir, or with `env` as a variable. */
export interface SecretUse {
  readonly name: string;
  /** Deliver as this environment variable instead of a file. */
  readonly env?: string;
  /** The file name in the credentials dir (default: the secret's name). */
  readonly file?: string;
}

/** The variable that names a unit's credentials directory (as systemd's $CREDENTIALS_DIRECTORY). */
export const CREDENTIALS_ENV = "HSU_CREDENTIALS_DIR";

const TMPFS_MAGIC = 0x01021994;
// Linux refuses an environment string over 32 pages (MAX_ARG_STRLEN) with E2BIG.
const MAX_ENV_VALUE = 128 * 1024 - 1;

/** Whether `path` is on tmpfs (memory, never written to a disk). */
export function onTmpfs(path: string): boolean {
  try {
    return statfsSync(path).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

/** A directory we may create ours in: exists, is a real directory, and is on tmpfs. */
function usableTmpfs(path: string | undefined, ownedByUs: boolean): boolean {
  if (!path) return false;
  try {
    const st = lstatSync(path);
    if (!st.isDirectory()) return false;
    if (ownedByUs && st.uid !== process.getuid?.()) return false;
    return onTmpfs(path);
  } catch {
    return false;
  }
}

/**
 * Where the credentials directories of a master's units go, first match:
 * `$XDG_RUNTIME_DIR` (a user's own tmpfs, /run/user/UID), `/run` when the
 * master is root and /run is tmpfs, `/dev/shm` (tmpfs on every Linux; it is
 * shared, so our 0700 directory there is checked to be ours and no symlink),
 * else `<state dir>/credentials` (on disk: the one case where a value can
 * reach a disk, reported as a warning). One directory per state dir
 * (`hsu-<owner>`), so two masters never share one.
 */
export function credentialsBase(stateDir: string, owner: string): { path: string; tmpfs: boolean } {
  const uid = process.getuid?.() ?? 0;
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (usableTmpfs(xdg, true)) return { path: join(xdg!, `hsu-${owner}`, "credentials"), tmpfs: true };
  if (uid === 0 && usableTmpfs("/run", true)) return { path: join("/run", `hsu-${owner}`, "credentials"), tmpfs: true };
  if (usableTmpfs("/dev/shm", false)) return { path: join("/dev/shm", `hsu-${uid}-${owner}`), tmpfs: true };
  return { path: join(stateDir, "credentials"), tmpfs: false };
}

/**
 * Where the capture files of units that get secrets go: beside their
 * credentials, on the same tmpfs (undefined when there is none: then they
 * stay in `<state dir>/logs`, like everything else on that host).
 */
export function privateCaptureDir(stateDir: string, owner: string): string | undefined {
  const { path, tmpfs } = credentialsBase(stateDir, owner);
  if (!tmpfs) return undefined;
  return basename(path) === "credentials" ? join(dirname(path), "capture") : `${path}-capture`;
}

/** Creates `path` (parents too) as a private directory of ours, or refuses one that is not. */
function privateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const st = lstatSync(path);
  if (st.isSymbolicLink() || !st.isDirectory()) throw new HsuError("failed_precondition", `${path} is not a directory of ours (a symlink or a file); remove it`);
  if (st.uid !== process.getuid?.()) throw new HsuError("failed_precondition", `${path} belongs to uid ${st.uid}, not to the master (uid ${process.getuid?.()}); remove it`);
  if ((st.mode & 0o777) !== 0o700) chmodSync(path, 0o700);
}

/** Options of {@link createCredentialDelivery}. */
export interface CredentialDeliveryOptions {
  store: SecretStore;
  stateDir: string;
  /** The master's owner mark (from its state dir). */
  owner: string;
  /** Every value decrypted is added to it, so the unit's output is redacted. */
  redactor: Redactor;
}

/** The master's credential provider and the cleanup of what a crash left. */
export interface CredentialDelivery {
  /** Hands each run its secrets: decrypted in memory, written to its private tmpfs dir, or put in its environment. */
  readonly provider: CredentialProvider;
  /** The directory the per-unit credentials dirs are made in. */
  readonly base: string;
  /** False when the host has no tmpfs for it (the files are then on disk). */
  readonly tmpfs: boolean;
  /**
   * Removes every unit's credentials dir except those of live grants and
   * those `keep` names (processes of the previous master about to be
   * re-adopted); returns the units whose dir was removed.
   */
  reap(keep?: Iterable<string>): string[];
  /** Decrypts `names` into the redactor now, so output read before the units start is redacted too; errors wait for the unit's start. */
  preload(names: Iterable<string>): Promise<void>;
}

/** Creates the credential delivery of one master. */
export function createCredentialDelivery(o: CredentialDeliveryOptions): CredentialDelivery {
  const { path: base, tmpfs } = credentialsBase(o.stateDir, o.owner);
  /** Units whose run holds a grant now (their dir must stay). */
  const live = new Map<string, number>();

  const provider: CredentialProvider = async (unit, credentials) => {
    const uses = credentials as readonly SecretUse[];
    const values = new Map<string, Uint8Array>();
    for (const use of uses) {
      if (values.has(use.name)) continue;
      // Its error names the secret, its file and the fix; the supervisor puts it in the unit's failure reason.
      const value = await o.store.decrypt(use.name);
      values.set(use.name, value);
      o.redactor.add(value);
    }
    const env: Record<string, string> = {};
    for (const use of uses) {
      if (use.env === undefined) continue;
      const value = values.get(use.name)!;
      const text = Buffer.from(value).toString("utf8");
      if (value.includes(0) || !Buffer.from(text, "utf8").equals(Buffer.from(value))) {
        throw new HsuError("failed_precondition", `secret "${use.name}" ${value.includes(0) ? "contains a NUL byte" : "is not UTF-8 text"} and cannot be the environment variable ${use.env}: deliver it as a file (drop \`env:\`)`);
      }
      if (value.byteLength > MAX_ENV_VALUE) {
        throw new HsuError("failed_precondition", `secret "${use.name}" is ${value.byteLength} bytes, over the kernel's ${MAX_ENV_VALUE + 1}-byte limit for one environment variable (${use.env}): deliver it as a file (drop \`env:\`)`);
      }
      env[use.env] = text;
    }
    const dir = join(base, unit);
    privateDir(base);
    privateDir(dir);
    // Written in place file by file (write + rename): a re-adopted process already reads this dir.
    const wanted = new Set<string>();
    for (const use of uses) {
      if (use.env !== undefined) continue;
      const file = use.file ?? use.name;
      wanted.add(file);
      const tmp = join(dir, `.${file}.${randomBytes(4).toString("hex")}.tmp`);
      writeFileSync(tmp, values.get(use.name)!, { mode: 0o400, flag: "wx" });
      renameSync(tmp, join(dir, file));
    }
    for (const name of readdirSync(dir)) if (!wanted.has(name)) rmSync(join(dir, name), { recursive: true, force: true });
    live.set(unit, (live.get(unit) ?? 0) + 1);
    let released = false;
    const grant: CredentialGrant = {
      env: { ...env, [CREDENTIALS_ENV]: dir },
      async release() {
        if (released) return;
        released = true;
        const n = (live.get(unit) ?? 1) - 1;
        if (n > 0) return void live.set(unit, n);
        live.delete(unit);
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return grant;
  };

  return {
    provider,
    base,
    tmpfs,
    reap(keep = []) {
      const kept = new Set(keep);
      let names: string[];
      try {
        names = readdirSync(base);
      } catch {
        return [];
      }
      const removed = names.filter((n) => !live.has(n) && !kept.has(n));
      for (const n of removed) rmSync(join(base, n), { recursive: true, force: true });
      // The shared parent goes too once nothing is in it (recreated at the next start).
      if (live.size === 0 && removed.length === names.length) rmSync(base, { recursive: true, force: true });
      return removed;
    },
    async preload(names) {
      for (const name of new Set(names)) {
        try {
          o.redactor.add(await o.store.decrypt(name));
        } catch {
          // Reported where it matters: at the start of the unit that needs it.
        }
      }
    },
  };
}
