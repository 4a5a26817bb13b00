import { join } from "node:path";
import type { Readable } from "node:stream";
import { HsuError } from "../errors.ts";
import { createLineSplitter } from "./line-splitter.ts";
import { createRingBuffer, type RingBuffer } from "./ring-buffer.ts";
import { createRotatingFile, type RotatingFile } from "./rotating-file.ts";
import { createSubscription, type Subscription } from "./subscription.ts";
import { formatLogRecord } from "./format.ts";
import type { AttachOptions, LogCollector, LogCollectorOptions, LogLine, LogStream, LogSubscribeFilter } from "./types.ts";

interface UnitLog {
  seq: number;
  tail: RingBuffer<LogLine>;
  file?: RotatingFile;
  /** Sources waiting to hear that their lines reached the file. */
  ackers: Set<Acker>;
}

/**
 * One source's pending acknowledgements: flat pairs (record count of the
 * unit's file, source bytes), in order; the bytes are acknowledged once the
 * file holds that many records. One pair per chunk read, not per line.
 */
interface Acker {
  pairs: number[];
  head: number;
  done: boolean;
  onWritten: (sourceBytes: number) => void;
}

interface Source {
  unit: string;
  stream: LogStream;
  readable: Readable;
  paused: boolean;
  detach(): void;
}

/** Something that needs sources paused: a subscriber that is behind, or a file the disk cannot keep up with. */
interface Blocker {
  covers(unit: string, stream: LogStream): boolean;
}

/**
 * Creates the log collector: splits each attached stream into lines, numbers
 * them per unit, keeps a per-unit tail, writes `<dir>/<unit>.log` with
 * rotation (see format.ts for the line format) and feeds live subscribers.
 *
 * Back-pressure: a subscriber ("block" mode, the default) whose queue holds
 * `subscriberHighWaterMark` lines, or a log file with `fileHighWaterBytes`
 * waiting for the disk, pauses the readables it covers; the OS pipe then
 * fills and the child blocks on write until the consumer catches up. So a
 * stuck subscriber stalls the output (and so possibly the progress) of the
 * units it watches: that is the price of never losing a line. Subscribers
 * that prefer to be cut off use `overflow: "disconnect"`. Because a chunk is
 * split whole, a queue can overshoot the mark by one chunk's worth of lines.
 */
export function createLogCollector(options: LogCollectorOptions = {}): LogCollector {
  const tailLines = options.tailLines ?? 1000;
  const maxLineBytes = options.maxLineBytes ?? 64 * 1024;
  const maxFileBytes = options.maxFileBytes ?? 10 * 1024 * 1024;
  const maxFiles = options.maxFiles ?? 5;
  const subscriberHwm = options.subscriberHighWaterMark ?? 10_000;
  const fileHwm = options.fileHighWaterBytes ?? 8 * 1024 * 1024;
  const now = options.now ?? Date.now;
  checkOptions({ tailLines, maxLineBytes, maxFileBytes, maxFiles, subscriberHwm, fileHwm });

  const units = new Map<string, UnitLog>();
  const sources = new Set<Source>();
  const subscribers = new Set<Subscription>();
  const blockers = new Set<Blocker>();
  let pauses = 0;
  let closed = false;

  const applyPressure = (): void => {
    for (const s of sources) {
      let hold = false;
      for (const b of blockers) if (b.covers(s.unit, s.stream)) hold = true;
      if (hold && !s.paused) {
        s.paused = true;
        pauses++;
        s.readable.pause();
      } else if (!hold && s.paused) {
        s.paused = false;
        s.readable.resume();
      }
    }
  };

  const unitLog = (unit: string): UnitLog => {
    let u = units.get(unit);
    if (u) return u;
    const me: UnitLog = { seq: 0, tail: createRingBuffer<LogLine>(tailLines), ackers: new Set() };
    u = me;
    if (options.dir !== undefined) {
      const blocker: Blocker = { covers: (name) => name === unit };
      u.file = createRotatingFile({
        path: join(options.dir, `${unit}.log`),
        maxFileBytes,
        maxFiles,
        highWaterBytes: fileHwm,
        onWritten: (records) => acknowledge(me, records),
        onPressure: (high) => {
          if (high) blockers.add(blocker);
          else blockers.delete(blocker);
          applyPressure();
        },
      });
    }
    units.set(unit, u);
    return u;
  };

  const acknowledge = (u: UnitLog, records: number): void => {
    for (const a of u.ackers) {
      let bytes = -1;
      while (a.head < a.pairs.length && (a.pairs[a.head] as number) <= records) {
        bytes = a.pairs[a.head + 1] as number;
        a.head += 2;
      }
      if (a.head > 4096 && a.head * 2 > a.pairs.length) {
        a.pairs = a.pairs.slice(a.head);
        a.head = 0;
      }
      if (a.done && a.head >= a.pairs.length) u.ackers.delete(a);
      if (bytes >= 0) a.onWritten(bytes);
    }
  };

  const deliver = (u: UnitLog, unit: string, stream: LogStream, text: string, partial: boolean): void => {
    const line: LogLine = { unit, stream, seq: ++u.seq, time: now(), text, partial };
    u.tail.push(line);
    u.file?.write(formatLogRecord(line));
    for (const sub of subscribers) if (sub.matches(unit, stream)) sub.offer(line);
  };

  const attach = (unit: string, stream: LogStream, readable: Readable, attachOptions: AttachOptions = {}): Promise<void> => {
    if (closed) return Promise.reject(new HsuError("failed_precondition", `cannot capture ${stream}: the log collector is closed`, { unit }));
    if (stream !== "stdout" && stream !== "stderr") {
      return Promise.reject(new HsuError("invalid_argument", `stream must be "stdout" or "stderr", got ${JSON.stringify(stream)}`, { unit }));
    }
    if (options.dir !== undefined && !safeFileName(unit)) {
      return Promise.reject(new HsuError("invalid_argument", `unit id ${JSON.stringify(unit)} cannot name a log file; use letters, digits, ".", "_" and "-"`, { unit }));
    }
    const u = unitLog(unit);
    return new Promise<void>((resolve, reject) => {
      // Secret values are hidden here, the one place every captured line passes (tail, file, subscribers).
      const redactor = options.redactor;
      let carry = "";
      const splitter = createLineSplitter(maxLineBytes, (text, partial) => {
        if (!redactor) return deliver(u, unit, stream, text, partial);
        if (!partial && carry === "") return deliver(u, unit, stream, redactor.redact(text), false);
        const piece = redactor.redactPiece(carry, text, !partial);
        carry = piece.carry;
        if (piece.text !== "" || !partial) deliver(u, unit, stream, piece.text, partial);
      });
      const onWritten = attachOptions.onWritten;
      const acker: Acker | undefined = onWritten ? { pairs: [], head: 0, done: false, onWritten } : undefined;
      if (acker && u.file) u.ackers.add(acker);
      let noted = 0;
      // After each chunk: the bytes of its whole lines are written once the file holds the records queued so far.
      const note = (): void => {
        if (!acker || splitter.emitted === noted) return;
        noted = splitter.emitted;
        if (u.file) acker.pairs.push(u.file.queued, noted);
        else acker.onWritten(noted);
      };
      let finished = false;
      const onData = (chunk: Buffer | string): void => {
        splitter.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
        note();
      };
      const finish = (err?: Error): void => {
        if (finished) return;
        finished = true;
        readable.off("data", onData).off("end", onEnd).off("close", onEnd).off("error", finish);
        sources.delete(source);
        // A durable source cut off mid-line (destroyed, not ended) keeps the rest of that line in
        // its file: the piece read so far is not a line, and is left to be read again whole.
        if (readable.readableEnded || !acker) splitter.end();
        note();
        if (acker) {
          acker.done = true;
          if (acker.head >= acker.pairs.length) u.ackers.delete(acker);
        }
        applyPressure();
        const flushed = u.file ? u.file.flush() : Promise.resolve();
        flushed.then(
          () => (err ? reject(new HsuError("unavailable", `reading ${stream} failed: ${err.message}`, { unit }, { cause: err })) : resolve()),
          reject,
        );
      };
      const onEnd = (): void => finish();
      const source: Source = {
        unit,
        stream,
        readable,
        paused: false,
        detach: () => {
          finish();
          // Keep the pipe flowing so the child never blocks on output nobody reads any more.
          readable.resume();
        },
      };
      sources.add(source);
      readable.on("data", onData).once("end", onEnd).once("close", onEnd).once("error", finish);
      // A stream that already ended emits neither event again.
      if (readable.readableEnded || readable.destroyed) finish(readable.errored ?? undefined);
      else applyPressure();
    });
  };

  const subscribe = (filter: LogSubscribeFilter = {}): AsyncIterable<LogLine> => {
    if (closed) throw new HsuError("failed_precondition", "cannot subscribe: the log collector is closed");
    const blocker: Blocker = { covers: (unit, stream) => sub.matches(unit, stream) };
    const sub: Subscription = createSubscription({
      units: filter.units,
      streams: filter.streams,
      overflow: filter.overflow ?? "block",
      highWaterMark: filter.highWaterMark ?? subscriberHwm,
      onBlock: () => {
        blockers.add(blocker);
        applyPressure();
      },
      onUnblock: () => {
        blockers.delete(blocker);
        applyPressure();
      },
      onDone: () => subscribers.delete(sub),
    });
    if (filter.fromTail && filter.fromTail > 0) {
      const backlog: LogLine[] = [];
      for (const [name, u] of units) {
        for (const line of u.tail.last()) if (sub.matches(name, line.stream)) backlog.push(line);
      }
      backlog.sort((a, b) => a.time - b.time || (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : a.seq - b.seq));
      for (const line of backlog.slice(-filter.fromTail)) sub.offer(line);
    }
    subscribers.add(sub);
    return sub;
  };

  const flush = async (): Promise<void> => {
    await Promise.all([...units.values()].map((u) => u.file?.flush()));
  };

  return {
    attach,
    subscribe,
    flush,
    tail(unit, n) {
      return units.get(unit)?.tail.last(n) ?? [];
    },
    stats() {
      let paused = 0;
      for (const s of sources) if (s.paused) paused++;
      return { pausedSources: paused, pauses, attachedSources: sources.size, subscribers: subscribers.size };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const s of [...sources]) s.detach();
      for (const sub of subscribers) sub.end();
      blockers.clear();
      await Promise.all([...units.values()].map((u) => u.file?.close()));
    },
  };
}

function safeFileName(unit: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(unit) && unit.length <= 200;
}

function checkOptions(values: Record<string, number>): void {
  for (const [name, value] of Object.entries(values)) {
    const min = name === "maxFiles" || name === "tailLines" ? 0 : 1;
    if (!Number.isInteger(value) || value < min) {
      throw new HsuError("invalid_argument", `log collector option ${name} must be an integer >= ${min}, got ${value}`);
    }
  }
}
