import { AddressError, parseAddress } from "@hsu/transport";

/** What the master told the unit through its environment (docs/unit-contract.md). */
export interface UnitEnvironment {
  /** HSU_UNIT_ID, or the unit's name when standalone. */
  readonly unitId: string;
  /** Where to listen: HSU_LISTEN, else the standalone default. */
  readonly listen: string;
  /** HSU_MASTER_ADDR: set when a master started the unit. */
  readonly masterAddress: string | undefined;
  /** HSU_TOKEN: authorizes Shutdown here and Register at the master. */
  readonly token: string | undefined;
  /** HSU_CONFIG_DIR: where the master renders the unit's config files (Reconfigure reloads them). */
  readonly configDir: string | undefined;
  /** HSU_MASTER_PID: the unit exits when this process is gone. */
  readonly masterPid: number | undefined;
  /** HSU_INDEX: the replica index in a worker pool. */
  readonly index: number | undefined;
  /**
   * The listening socket the master created and passed (socket activation,
   * {@link readListenFd}): serve on this fd instead of binding `listen`.
   */
  readonly listenFd: number | undefined;
}

/** An environment variable that breaks the contract; the unit exits with code 2. */
export class UnitEnvironmentError extends Error {
  override readonly name = "UnitEnvironmentError";
}

const ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Reads and checks the unit contract's environment variables. */
export function readUnitEnvironment(
  env: NodeJS.ProcessEnv,
  defaults: { name: string; listen: string },
): UnitEnvironment {
  const unitId = env.HSU_UNIT_ID || defaults.name;
  if (!ID.test(unitId)) {
    throw new UnitEnvironmentError(
      `HSU_UNIT_ID "${unitId}": expected lower-case letters, digits, ".", "_" or "-", at most 63 characters`,
    );
  }
  const listen = env.HSU_LISTEN || defaults.listen;
  const masterAddress = env.HSU_MASTER_ADDR || undefined;
  for (const [name, value] of [["HSU_LISTEN", listen], ["HSU_MASTER_ADDR", masterAddress]] as const) {
    if (value === undefined) continue;
    try {
      parseAddress(value);
    } catch (e) {
      throw new UnitEnvironmentError(`${name}: ${(e as AddressError).message}`, { cause: e });
    }
  }
  return {
    unitId,
    listen,
    masterAddress,
    token: env.HSU_TOKEN || undefined,
    configDir: env.HSU_CONFIG_DIR || undefined,
    masterPid: intVar(env, "HSU_MASTER_PID"),
    index: intVar(env, "HSU_INDEX"),
    listenFd: readListenFd(env, process.pid),
  };
}

/** The first fd of socket activation (`SD_LISTEN_FDS_START` in sd_listen_fds(3)). */
export const LISTEN_FDS_START = 3;

/**
 * Socket activation as sd_listen_fds(3) defines it: the listening socket is
 * fd 3 when `LISTEN_FDS` is at least 1 and `LISTEN_PID` is this process.
 * A master that cannot know the pid before exec (Node's spawn) leaves
 * `LISTEN_PID` unset and sets `HSU_LISTEN_FD=3` instead; without either, the
 * variables are someone else's (a parent's) and are ignored. When they are
 * ours, a `LISTEN_FDS` that is not a whole number >= 1 is an error.
 */
export function readListenFd(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const hsu = env.HSU_LISTEN_FD;
  if (hsu !== undefined && hsu !== "" && hsu !== String(LISTEN_FDS_START)) {
    throw new UnitEnvironmentError(`HSU_LISTEN_FD "${hsu}": expected ${LISTEN_FDS_START} (the first socket-activation fd)`);
  }
  const listenPid = env.LISTEN_PID;
  const ours = listenPid !== undefined && listenPid !== "" ? listenPid === String(pid) : hsu === String(LISTEN_FDS_START);
  if (!ours) return undefined;
  const fds = env.LISTEN_FDS;
  if (fds === undefined || !/^[1-9][0-9]{0,3}$/.test(fds)) {
    throw new UnitEnvironmentError(`LISTEN_FDS "${fds ?? ""}": expected the number of passed sockets (1) with LISTEN_PID or HSU_LISTEN_FD set`);
  }
  return LISTEN_FDS_START;
}

function intVar(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new UnitEnvironmentError(`${name} "${raw}": expected a whole number`);
  return n;
}
