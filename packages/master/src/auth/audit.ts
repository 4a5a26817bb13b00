import { createHash } from "node:crypto";
import { closeSync, fstatSync, mkdirSync, openSync, readSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { PrincipalKind } from "./principal.ts";

/** What one audit entry says, before the log adds its place in the chain. */
export interface AuditRecord {
  /** ms since the epoch. */
  readonly time: number;
  readonly who: { readonly kind: PrincipalKind; readonly subject: string };
  /** "pkg.Service/Method". */
  readonly method: string;
  readonly units: readonly string[];
  /** "unix", or the TCP peer's address ("127.0.0.1:53211"). */
  readonly from: string;
  /** For a call forwarded by the gateway: whom it forwarded (its client's address). */
  readonly via?: string;
  readonly result: "ok" | "denied" | "error";
  /** The gRPC status code's name ("ok", "permission_denied", ...). */
  readonly code: string;
  readonly reason?: string;
  /** A summary of coalesced refusals (audit-coalesce.ts): how many refusals like this one it stands for. */
  readonly count?: number;
  /** A summary's window start (ms since the epoch); `time` is its end. */
  readonly since?: number;
}

/** One line of the log: the record, its sequence number, the previous entry's hash and its own. */
export interface AuditEntry extends AuditRecord {
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
}

/** Where a master keeps its audit log: `<state_dir>/audit.log`. */
export const auditFile = (stateDir: string): string => join(stateDir, "audit.log");

/** The `prev` of the first entry: a fixed value, so a log whose first lines were cut off does not verify. */
export const GENESIS = createHash("sha256").update("hsu audit log v1").digest("hex");

/** The hash of an entry: sha256 over its JSON without the `hash` field, in the order the fields were written. */
export function entryHash(entry: Omit<AuditEntry, "hash">): string {
  return createHash("sha256").update(JSON.stringify(entry)).digest("hex");
}

/** The master's audit log: append-only, hash-chained, each line fsync'd before `append` resolves. */
export interface AuditLog {
  readonly file: string;
  append(record: AuditRecord): Promise<AuditEntry>;
  close(): Promise<void>;
}

/** The last complete entry of a log file (read from its end), or undefined for an empty or new file. */
function lastEntry(file: string): { seq: number; hash: string; torn: boolean } | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    // Grow the window from the end until it holds a whole line before the last newline.
    for (let window = 64 * 1024; ; window *= 4) {
      const start = Math.max(0, size - window);
      const buf = Buffer.alloc(size - start);
      readSync(fd, buf, 0, buf.length, start);
      const text = buf.toString("utf8");
      const torn = !text.endsWith("\n");
      const lines = text.split("\n");
      // The piece after the last newline: "" or a torn line.
      lines.pop();
      // The first piece may be cut by the window; it is whole only when the window reached the file's start.
      const usable = start === 0 ? lines : lines.slice(1);
      for (let i = usable.length - 1; i >= 0; i--) {
        try {
          const e = JSON.parse(usable[i]!) as AuditEntry;
          if (typeof e.seq === "number" && typeof e.hash === "string") return { seq: e.seq, hash: e.hash, torn };
        } catch {
          // A line that is not an entry: `hsu audit verify` reports it; the chain goes on from the last good one.
        }
      }
      if (start === 0) return undefined;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens the audit log at `file` (its directory is created 0700, the file
 * 0600) and continues its chain from the last entry, so a restarted master
 * appends where the last one stopped. A torn last line (a crash mid-write)
 * is ended with a newline and left for `hsu audit verify` to report.
 */
export async function openAuditLog(file: string): Promise<AuditLog> {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const last = lastEntry(file);
  const handle: FileHandle = await open(file, "a", 0o600);
  let seq = last ? last.seq + 1 : 1;
  let prev = last ? last.hash : GENESIS;
  // Appends are chained here, in call order, and written one after the other.
  let tail: Promise<unknown> = last?.torn ? handle.write("\n") : Promise.resolve();
  return {
    file,
    append(record) {
      const body = { seq, ...record, prev };
      const entry: AuditEntry = { ...body, hash: entryHash(body) };
      seq += 1;
      prev = entry.hash;
      const line = `${JSON.stringify(entry)}\n`;
      const written = tail.then(async () => {
        await handle.write(line);
        await handle.datasync();
      });
      tail = written.catch(() => undefined);
      return written.then(() => entry);
    },
    async close() {
      await tail;
      await handle.close();
    },
  };
}

/** What `verify` found: every line good, or the first bad one and why. */
export type AuditVerdict = { readonly ok: true; readonly entries: number } | { readonly ok: false; readonly line: number; readonly reason: string; readonly entries: number };

/**
 * Checks a whole log: each line is JSON, its hash matches its content
 * (an edited entry), its `prev` is the previous entry's hash (a deleted,
 * moved or inserted line), its `seq` follows the previous one, and the file
 * ends with a newline (a truncated last line). Reports the first bad line
 * (1-based).
 */
export function verifyAudit(text: string): AuditVerdict {
  if (text === "") return { ok: true, entries: 0 };
  const lines = text.split("\n");
  const torn = lines.pop() !== "";
  let prev = GENESIS;
  let prevSeq = 0;
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const bad = (reason: string): AuditVerdict => ({ ok: false, line: n, reason, entries: i });
    let entry: AuditEntry;
    try {
      entry = JSON.parse(lines[i]!) as AuditEntry;
    } catch {
      return bad("not a JSON entry (edited, or garbage appended)");
    }
    if (typeof entry !== "object" || entry === null || typeof entry.hash !== "string" || typeof entry.seq !== "number") {
      return bad("not an audit entry (no seq or hash)");
    }
    const { hash, ...body } = entry;
    if (entryHash(body) !== hash) return bad(`entry ${entry.seq} does not match its hash: it was edited`);
    if (entry.prev !== prev) {
      if (entry.seq > prevSeq + 1) return bad(`entry ${entry.seq} follows entry ${prevSeq}: ${entry.seq - prevSeq - 1} entr${entry.seq - prevSeq - 1 === 1 ? "y was" : "ies were"} deleted before it`);
      if (entry.seq <= prevSeq) return bad(`entry ${entry.seq} follows entry ${prevSeq}: lines were reordered`);
      return bad(`entry ${entry.seq} is not chained to the line before it (its prev hash differs): the line before was replaced`);
    }
    if (entry.seq !== prevSeq + 1) return bad(`entry ${entry.seq} follows entry ${prevSeq} with a matching hash: its seq was rewritten`);
    prev = hash;
    prevSeq = entry.seq;
  }
  if (torn) return { ok: false, line: lines.length + 1, reason: "truncated mid-line (no newline at the end): the last entry is incomplete", entries: lines.length };

  return { ok: true, entries: lines.length };
}
