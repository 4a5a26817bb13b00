import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readProcessRecords } from "./owned.ts";

/** What the master remembers of one unit process, to find it again after a crash. */
export interface ProcessRecord {
  /** The unit id (a pool replica's own id). */
  readonly unit: string;
  /** 0 while the process is being spawned (the record is written first, so a crash then still finds its output). */
  pid: number;
  /** Field 22 of /proc/PID/stat: with the pid, names one process across pid reuse. */
  startTime: number;
  /** The kernel's boot id when the process was recorded: after a reboot no process is taken for it. */
  bootId?: string;
  readonly stdoutFile: string | undefined;
  readonly stderrFile: string | undefined;
  /**
   * Where each capture file is read from next: every byte before it is in
   * the unit's log file (acknowledged by the log sink after write(2)), so a
   * later master resumes here. Bytes after it may already be in the log too:
   * those are the lines that can repeat.
   */
  stdoutOffset: number;
  stderrOffset: number;
}

/**
 * The master's record of its unit processes, one small JSON file per unit
 * in `<state dir>/units/`, each replaced atomically (write + rename) so a
 * crash never leaves a torn record.
 */
export class ProcessBook {
  readonly dir: string;
  private readonly stateDir: string;

  constructor(stateDir: string) {
    this.stateDir = stateDir;
    this.dir = join(stateDir, "units");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Writes (or replaces) a unit's record. */
  put(record: ProcessRecord): void {
    const file = join(this.dir, `${record.unit}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(record));
    renameSync(`${file}.tmp`, file);
  }

  /** A unit's record, if there is a readable one. */
  get(unit: string): ProcessRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, `${unit}.json`), "utf8")) as ProcessRecord;
    } catch {
      return undefined;
    }
  }

  remove(unit: string): void {
    rmSync(join(this.dir, `${unit}.json`), { force: true });
  }

  /** Every record; a file that cannot be read is reported, not fatal. */
  load(onBad: (file: string, error: Error) => void = () => {}): ProcessRecord[] {
    return readProcessRecords(this.stateDir, onBad);
  }
}
