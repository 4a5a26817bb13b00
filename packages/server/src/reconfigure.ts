import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";

/** One file of HSU_CONFIG_DIR as the unit read it. */
export interface LoadedConfigFile {
  /** The name relative to HSU_CONFIG_DIR. */
  readonly name: string;
  /** SHA-256 of `content`, lower-case hex. */
  readonly sha256: string;
  readonly content: Buffer;
}

/** What an `onReconfigure` hook is handed: the whole directory, read again. */
export interface ReconfigureEvent {
  /** The master's render count, echoed in the reply. */
  readonly generation: bigint;
  /** The names the master says changed (a hint: `files` is the whole directory). */
  readonly changedFiles: readonly string[];
  /** HSU_CONFIG_DIR. */
  readonly dir: string;
  /** Every regular file of the directory, sorted by name. */
  readonly files: readonly LoadedConfigFile[];
}

/**
 * The unit's reload hook: apply `event.files` and return, or throw to refuse
 * them (the caller gets FAILED_PRECONDITION with the error's message, and the
 * master restarts the unit instead).
 */
export type ReconfigureHandler = (event: ReconfigureEvent) => void | Promise<void>;

/**
 * Reads every regular file directly in `dir` (sorted; dot files, which are the
 * master's temp files, and anything that is not a regular file - a FIFO would
 * block - are skipped). Throws FAILED_PRECONDITION naming the path when the
 * directory cannot be read.
 */
export function readConfigDir(dir: string | undefined): LoadedConfigFile[] {
  if (!dir) {
    throw new ConnectError("Reconfigure: HSU_CONFIG_DIR is not set, so there is nothing to reload; give the unit `config:` files in hsu.yaml", Code.FailedPrecondition);
  }
  const fail = (what: string, e: unknown): never => {
    throw new ConnectError(`Reconfigure: cannot read ${what}: ${(e as Error).message}; the unit keeps its previous config`, Code.FailedPrecondition);
  };
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => !n.startsWith(".")).sort();
  } catch (e) {
    fail(`HSU_CONFIG_DIR ${dir}`, e);
  }
  const files: LoadedConfigFile[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      if (!statSync(path).isFile()) continue;
      const content = readFileSync(path);
      files.push({ name, sha256: createHash("sha256").update(content).digest("hex"), content });
    } catch (e) {
      fail(path, e);
    }
  }
  return files;
}

/**
 * Runs one Reconfigure: read the directory, hand it to the hook, answer what
 * is loaded. Calls run one at a time, so the hook never sees two reloads at once.
 */
export function reconfigureRunner(dir: string | undefined, handler: ReconfigureHandler) {
  let queue: Promise<unknown> = Promise.resolve();
  return (generation: bigint, changedFiles: readonly string[]) => {
    const run = queue.then(async () => {
      const files = readConfigDir(dir);
      try {
        await handler({ generation, changedFiles, dir: dir!, files });
      } catch (e) {
        if (e instanceof ConnectError) throw e;
        throw new ConnectError(`Reconfigure: the unit refused the new config: ${(e as Error).message ?? String(e)}`, Code.FailedPrecondition);
      }
      return { generation, files: files.map((f) => ({ name: f.name, sha256: f.sha256 })) };
    });
    queue = run.catch(() => undefined);
    return run;
  };
}
