import { ownedProcesses as ownedBy } from "@hsu/client";
import { ownerMark } from "./state-dir.ts";

/** A live process that belongs to a state dir's master. */
export interface OwnedProcess {
  readonly pid: number;
  /** The unit it was started for, when known. */
  readonly unit: string | undefined;
}

/**
 * Every live process of a state dir's units (its owner marker, or a live
 * process record): what `hsu down` checks is gone at the end. A state dir
 * that does not exist has none.
 */
export function ownedProcesses(stateDir: string): OwnedProcess[] {
  let owner: string;
  try {
    owner = ownerMark(stateDir);
  } catch {
    return []; // no state dir: nothing was ever started from it
  }
  return ownedBy(stateDir, owner);
}
