import { newToken } from "@hsu/transport";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { currentBootId, isSameProcess } from "../resources/identity.ts";
import { readStatSync } from "../resources/proc.ts";

/** The process an integrated unit last completed its handshake with: enough to call it again after a master restart. */
export interface Attachment {
  readonly pid: number;
  /** Field 22 of /proc/PID/stat: with the pid, names one process across pid reuse. */
  readonly startTime: number;
  /** The kernel's boot id at the handshake: after a reboot no process is taken for this one. */
  readonly bootId?: string;
  /** The address the process registered. */
  readonly address: string;
}

/**
 * What a master keeps of one integrated unit across its own restarts, in one
 * file (mode 0600, replaced atomically): the unit's token, stable for the
 * unit's life so that a re-adopted process (whose environment carries it)
 * still accepts Shutdown, and the last process that registered, so a
 * re-adopted process is called at the address it registered without a new
 * handshake.
 */
export interface UnitRecord {
  readonly token: string;
  /** The last attachment, if its process is still the same live process. */
  live(): Attachment | undefined;
  /** Remembers the process that just registered. */
  attach(a: Attachment): void;
}

interface Stored {
  token: string;
  attachment?: Attachment;
}

/** Opens (or creates, with a fresh token) the record file of one integrated unit. */
export function openUnitRecord(file: string): UnitRecord {
  let stored: Stored | undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<Stored>;
    if (typeof parsed.token === "string" && parsed.token.length >= 16) stored = parsed as Stored;
  } catch {
    // Absent or torn: start over with a new token (a process holding the old one is not re-attached).
  }
  const write = () => {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(`${file}.tmp`, JSON.stringify(stored), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  };
  if (!stored) {
    stored = { token: newToken() };
    write();
  }
  const s = stored;
  return {
    token: s.token,
    live() {
      const a = s.attachment;
      if (!a) return undefined;
      return isSameProcess(a) ? a : undefined;
    },
    attach(a) {
      s.attachment = { bootId: currentBootId(), ...a };
      write();
    },
  };
}

/** The start time of a live process (for {@link Attachment}), or -1 when it cannot be read. */
export function processStartTime(pid: number): number {
  return readStatSync(pid)?.startTime ?? -1;
}
