import { createSystemClock, type Clock, type Timer } from "@hsu/client";
import type { AuditEntry, AuditLog, AuditRecord } from "./audit.ts";

/** What the auth gate writes to: an audit log, maybe one that coalesces refusals (then `append` may write nothing now). */
export interface AuditWriter {
  readonly file: string;
  /** The entry written, or undefined for a refusal counted into a summary that is written when its window ends. */
  append(record: AuditRecord): Promise<AuditEntry | undefined>;
  /** Writes the pending summaries, then closes the log. */
  close(): Promise<void>;
}

/** Refusals of one (source, principal, code, reason) written one by one per window; the rest go into one summary. */
export const REFUSAL_BURST = 10;
/** How long a window of coalesced refusals lasts, from its first refusal. */
export const REFUSAL_WINDOW_MS = 60_000;
/** How many (source, reason) windows are kept at once; refusals beyond them share one bucket. */
export const REFUSAL_SOURCES = 1024;

/** Options of {@link coalesceRefusals}. */
export interface CoalesceOptions {
  /** Default {@link REFUSAL_BURST}. */
  readonly burst?: number;
  /** Default {@link REFUSAL_WINDOW_MS}. */
  readonly windowMs?: number;
  /** Default {@link REFUSAL_SOURCES}. */
  readonly maxSources?: number;
  /** Default: the system clock, unref'd (a pending summary never keeps the master alive; close writes it). */
  readonly clock?: Clock;
  /** Told about a summary that could not be written. */
  readonly log?: (line: string) => void;
}

/** The coalescing writer, with what tests need to see that memory stays bounded. */
export interface CoalescingAuditLog extends AuditWriter {
  /** How many windows are open now (at most maxSources + 1). */
  tracked(): number;
}

interface Window {
  readonly first: AuditRecord;
  readonly source: string;
  readonly start: number;
  written: number;
  suppressed: number;
  sameMethod: boolean;
  readonly timer: Timer;
}

/** The key of the bucket shared by refusals once maxSources windows are open. */
const OVERFLOW = "*";

/**
 * Who a refusal came from, for coalescing: a gateway's client address (`via`),
 * else the TCP peer's host without its port (a flood opens new connections,
 * each from a new port), else "unix".
 */
export function refusalSource(r: AuditRecord): string {
  if (r.via !== undefined) return r.via;
  const port = /:\d+$/.exec(r.from);
  return port ? r.from.slice(0, port.index) : r.from;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;

/**
 * Wraps an audit log so a flood of refusals costs a bounded number of lines
 * (and fsyncs): per source, principal, code and reason, the first `burst`
 * refusals of a window are written as they come; the others are counted and
 * written as one summary entry ("N more refusals like this from X in Ts",
 * `count: N`) when the window ends or at close, in the same hash chain.
 * Anything that is not a refusal (calls that succeeded or failed) is written
 * at once, never coalesced. At most `maxSources` windows are open; refusals
 * past them share one bucket, so memory stays bounded whatever the number of
 * sources, and so does the log: per window at most
 * (maxSources + 1) x (burst + 1) lines of refusals.
 */
export function coalesceRefusals(log: AuditLog, options: CoalesceOptions = {}): CoalescingAuditLog {
  const burst = options.burst ?? REFUSAL_BURST;
  const windowMs = options.windowMs ?? REFUSAL_WINDOW_MS;
  const maxSources = options.maxSources ?? REFUSAL_SOURCES;
  const clock = options.clock ?? createSystemClock({ unref: true });
  const windows = new Map<string, Window>();

  const summary = (w: Window, now: number): AuditRecord => {
    const { reason, via, ...first } = w.first;
    const overflow = w.source === OVERFLOW;
    const from = overflow ? `other sources (more than ${maxSources} at once)` : w.source;
    return {
      ...first,
      time: now,
      ...(w.sameMethod ? {} : { method: "*" }),
      ...(overflow ? { from: OVERFLOW, who: { kind: w.first.who.kind, subject: "*" } } : via !== undefined ? { via } : { from: w.source }),
      reason: overflow
        ? `${w.suppressed} more refusals from ${from} in ${seconds(now - w.start)}`
        : `${w.suppressed} more refusals like this from ${from} in ${seconds(now - w.start)}${reason !== undefined ? `: ${reason}` : ""}`,
      count: w.suppressed,
      since: w.start,
    };
  };
  const end = (key: string): Promise<unknown> => {
    const w = windows.get(key);
    if (!w) return Promise.resolve();
    windows.delete(key);
    w.timer.cancel();
    if (w.suppressed === 0) return Promise.resolve();
    return log.append(summary(w, clock.now())).catch((e: unknown) => options.log?.(`audit: cannot append a refusal summary to ${log.file}: ${(e as Error).message}`));
  };

  return {
    file: log.file,
    tracked: () => windows.size,
    append(record) {
      if (record.result !== "denied") return log.append(record);
      const source = refusalSource(record);
      let key = JSON.stringify([source, record.who.kind, record.who.subject, record.code, record.reason ?? ""]);
      let w = windows.get(key);
      if (!w && windows.size >= maxSources) {
        key = OVERFLOW;
        w = windows.get(key);
      }
      if (!w) {
        const k = key;
        w = { first: record, source: key === OVERFLOW ? OVERFLOW : source, start: clock.now(), written: 0, suppressed: 0, sameMethod: true, timer: clock.setTimer(windowMs, () => void end(k)) };
        windows.set(key, w);
      }
      if (w.written < burst) {
        w.written += 1;
        return log.append(record);
      }
      w.suppressed += 1;
      if (record.method !== w.first.method) w.sameMethod = false;
      return Promise.resolve(undefined);
    },
    async close() {
      await Promise.all([...windows.keys()].map(end));
      await log.close();
    },
  };
}
