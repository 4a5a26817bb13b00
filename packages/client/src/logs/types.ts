import type { Readable } from "node:stream";
import type { LogAttachOptions } from "../supervisor/ports.ts";
import type { Redactor } from "./redactor.ts";

/** Which output stream of a unit a line came from. */
export type LogStream = "stdout" | "stderr";

/** One captured line of a unit's output, tagged with where and when it came from. */
export interface LogLine {
  /** The unit id the line belongs to. */
  unit: string;
  /** The stream the line was read from. */
  stream: LogStream;
  /** Per-unit sequence number, increasing across stdout and stderr together. */
  seq: number;
  /** When the line was captured, in ms since the epoch (from the collector's clock). */
  time: number;
  /** The line without its newline (and without a trailing `\r`). */
  text: string;
  /** True when a line over `maxLineBytes` was cut here and continues in the next piece. */
  partial: boolean;
}

/**
 * What the supervisor hands each child's output to. `attach` resolves once
 * `source` ended and every line from it reached the tail, the subscribers'
 * queues and (when files are on) the log file. Attach right after spawn, in
 * the same tick: Node discards (resumes) a child's unread stdio when it exits.
 */
export interface LogSink {
  attach(unit: string, stream: LogStream, source: Readable, options?: AttachOptions): Promise<void>;
}

/**
 * Options of {@link LogSink.attach}: `onWritten` is told how many bytes of
 * `source` (from its first byte) are in the unit's log file - whole lines
 * only (and pieces of over-long lines), once their write(2) returned, in
 * increasing order; with no log file, once the lines reached the tail and the
 * subscribers; never again after a write failed.
 */
export type AttachOptions = LogAttachOptions;

/** Which lines a subscriber wants, and how it copes with falling behind. */
export interface LogSubscribeFilter {
  /** Only these units (all units when omitted). */
  units?: string[];
  /** Only these streams (both when omitted). */
  streams?: LogStream[];
  /** Start with up to this many of the latest matching lines already in the tails. */
  fromTail?: number;
  /**
   * What happens when this subscriber has `highWaterMark` lines queued:
   * `"block"` (default) pauses the matching sources until it catches up;
   * `"disconnect"` ends the subscription with an error counting the lines it missed.
   */
  overflow?: "block" | "disconnect";
  /** Queued lines at which `overflow` applies (default: the collector's `subscriberHighWaterMark`). */
  highWaterMark?: number;
}

/** Options of {@link createLogCollector}. */
export interface LogCollectorOptions {
  /** Directory for `<unit>.log` files; no files are written when omitted. */
  dir?: string;
  /** Lines kept in memory per unit for `tail()` (default 1000). */
  tailLines?: number;
  /** Longest line in bytes before it is cut into `partial` pieces (default 64 KiB). */
  maxLineBytes?: number;
  /** Size at which `<unit>.log` is rotated (default 10 MiB). */
  maxFileBytes?: number;
  /** Rotated files kept per unit: `<unit>.log.1` (newest) .. `<unit>.log.<maxFiles>` (default 5). */
  maxFiles?: number;
  /** Default queue length at which a subscriber counts as behind (default 10000 lines). */
  subscriberHighWaterMark?: number;
  /** Bytes waiting for the disk at which sources are paused (default 8 MiB). */
  fileHighWaterBytes?: number;
  /** Clock for line timestamps (default `Date.now`). */
  now?: () => number;
  /**
   * Hides secret values in every captured line before it reaches the tail,
   * the file or a subscriber (values the master adds as it decrypts them).
   */
  redactor?: Redactor;
}

/** Counters that show what the collector is doing, mainly for tests and status pages. */
export interface LogCollectorStats {
  /** Sources currently paused because a subscriber or a file is behind. */
  pausedSources: number;
  /** How many times any source was paused since the collector was created. */
  pauses: number;
  /** Sources currently attached. */
  attachedSources: number;
  /** Live subscriptions. */
  subscribers: number;
}

/** Captures unit output: line splitting, per-unit tails, rotated files and live subscriptions. */
export interface LogCollector extends LogSink {
  /** The latest `n` lines of `unit` (all kept lines when `n` is omitted), oldest first. */
  tail(unit: string, n?: number): LogLine[];
  /** A live, merged stream of lines; see {@link LogSubscribeFilter} for back-pressure. */
  subscribe(filter?: LogSubscribeFilter): AsyncIterable<LogLine>;
  /** Resolves when every line captured so far is written to its file. */
  flush(): Promise<void>;
  /** Current back-pressure and subscription counters. */
  stats(): LogCollectorStats;
  /**
   * Stops capturing: still-attached sources are detached (their `attach`
   * promises resolve; later output is drained and not captured so no child
   * blocks), subscriptions end after their queued lines, files are flushed and closed.
   */
  close(): Promise<void>;
}
