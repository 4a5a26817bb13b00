import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse } from "yaml";
import { HsuError } from "../hsu-error.ts";

/** The spec file the `hsu` master reads, looked for in a directory and its parents. */
export const SPEC_FILE = "hsu.yaml";

/** True for host:port (TCP) rather than a Unix socket path. */
export const isControlAddress = (s: string): boolean => s.includes(":") && !s.startsWith("/");

/**
 * The one rule for where a master keeps its state and control socket, given
 * hsu.yaml's `master.state_dir` and `master.control.socket` (relative to the
 * spec's directory): `<state_dir or .hsu>/control.sock` by default. The
 * master's config loader and {@link locateMaster} both use it.
 */
export function masterPaths(baseDir: string, stateDir?: string, controlSocket?: string): { stateDir: string; controlSocket: string } {
  const state = stateDir ? resolve(baseDir, stateDir) : join(baseDir, ".hsu");
  return { stateDir: state, controlSocket: controlSocket ? resolve(baseDir, controlSocket) : join(state, "control.sock") };
}

/** Options of {@link locateMaster}. */
export interface LocateMasterOptions {
  /** The control socket path (or host:port); wins over everything else. */
  socket?: string;
  /** The spec file; when left out, hsu.yaml in `cwd` or its nearest parent that has one. */
  file?: string;
  /** Where relative paths start and the search for hsu.yaml begins (default `process.cwd()`). */
  cwd?: string;
  /** The environment to read HSU_CONTROL from (default `process.env`). */
  env?: Record<string, string | undefined>;
}

/** Where a master was found, and what said so. */
export interface MasterLocation {
  /** An absolute Unix socket path, or host:port for a master's TCP control port. */
  readonly socket: string;
  /** What named it: the `socket` option, HSU_CONTROL, or an hsu.yaml. */
  readonly source: "option" | "HSU_CONTROL" | "spec";
  /** The hsu.yaml read, when `source` is "spec". */
  readonly file?: string;
}

/**
 * Finds the control socket of the `hsu` master a process should talk to,
 * in the `hsu` CLI's order: the `socket` option (the CLI's --socket), else
 * HSU_CONTROL, else the hsu.yaml (`file`, or the nearest one from `cwd`
 * upwards, where the CLI reads ./hsu.yaml or -f), honouring its
 * `master.state_dir` and `master.control.socket`. Reads no more of the spec
 * than those two keys, so a spec written for another machine still says
 * where its master is. Does not check that a master is running.
 */
export function locateMaster(options: LocateMasterOptions = {}): MasterLocation {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const absolute = (s: string) => (isControlAddress(s) ? s : resolve(cwd, s));
  if (options.socket) return { socket: absolute(options.socket), source: "option" };
  if (env.HSU_CONTROL) return { socket: absolute(env.HSU_CONTROL), source: "HSU_CONTROL" };
  const file = options.file ? resolve(cwd, options.file) : findSpec(cwd);
  if (file === undefined || !existsSync(file)) {
    const where = file === undefined ? `no ${SPEC_FILE} in ${cwd} or any directory above it` : `no spec file at ${file}`;
    throw new HsuError(
      "not_found",
      `cannot find the hsu master: HSU_CONTROL is not set and there is ${where}; run in your project's directory (where \`hsu up\` runs), or set HSU_CONTROL to the master's control socket`,
    );
  }
  const master = readMasterKeys(file);
  return { socket: masterPaths(dirname(file), master.stateDir, master.controlSocket).controlSocket, source: "spec", file };
}

function findSpec(from: string): string | undefined {
  // A path has at most a few hundred components; the loop ends at the root.
  for (let dir = resolve(from), i = 0; i < 4096; i++) {
    const candidate = join(dir, SPEC_FILE);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
  return undefined;
}

/** `master.state_dir` and `master.control.socket` of a spec file, each checked to be a string when set. */
function readMasterKeys(file: string): { stateDir?: string; controlSocket?: string } {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, "utf8"), { maxAliasCount: 100 });
  } catch (e) {
    throw new HsuError("invalid_config", `cannot read it to find the master: ${(e as Error).message}; \`hsu validate\` says more`, { file }, { cause: e });
  }
  const master = field(doc, "master");
  const stateDir = field(master, "state_dir");
  const controlSocket = field(field(master, "control"), "socket");
  const text = (v: unknown, key: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string" || !v) throw new HsuError("invalid_config", "must be a non-empty path; `hsu validate` says more", { file, field: key });
    return v;
  };
  return { stateDir: text(stateDir, "master.state_dir"), controlSocket: text(controlSocket, "master.control.socket") };
}

const field = (v: unknown, key: string): unknown => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>)[key] : undefined);
