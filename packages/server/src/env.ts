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
  /** HSU_MASTER_PID: the unit exits when this process is gone. */
  readonly masterPid: number | undefined;
  /** HSU_INDEX: the replica index in a worker pool. */
  readonly index: number | undefined;
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
    masterPid: intVar(env, "HSU_MASTER_PID"),
    index: intVar(env, "HSU_INDEX"),
  };
}

function intVar(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new UnitEnvironmentError(`${name} "${raw}": expected a whole number`);
  return n;
}
