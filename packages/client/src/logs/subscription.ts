import { HsuError } from "../errors.ts";
import type { LogLine, LogStream } from "./types.ts";

/** Options of {@link createSubscription}; the callbacks connect it to the collector. */
export interface SubscriptionOptions {
  units?: string[];
  streams?: LogStream[];
  overflow: "block" | "disconnect";
  highWaterMark: number;
  /** The queue reached the high-water mark in "block" mode: pause the sources it covers. */
  onBlock: () => void;
  /** The queue fell to half the high-water mark: the pause may be released. */
  onUnblock: () => void;
  /** The consumer is gone (break/return, or it read the disconnect error). */
  onDone: () => void;
}

/** One subscriber's queue plus the async iterator its consumer reads. */
export interface Subscription extends AsyncIterable<LogLine> {
  matches(unit: string, stream: LogStream): boolean;
  /** Queues a line for the consumer (or counts it as missed after a disconnect). */
  offer(line: LogLine): void;
  /** No more lines will come: the consumer finishes after the queued ones. */
  end(): void;
  readonly blocked: boolean;
}

type Waiter = (r: IteratorResult<LogLine>) => void;

/**
 * Creates a subscription. Lines are never dropped silently: in "block" mode
 * the collector pauses the matching sources while the queue is at its
 * high-water mark; in "disconnect" mode the consumer first reads what was
 * queued, then gets an HsuError("resource_exhausted") counting the missed lines.
 */
export function createSubscription(options: SubscriptionOptions): Subscription {
  const units = options.units ? new Set(options.units) : undefined;
  const streams = options.streams ? new Set(options.streams) : undefined;
  const lowWater = Math.floor(options.highWaterMark / 2);
  let queue: LogLine[] = [];
  let head = 0;
  const waiters: Waiter[] = []; // more than one only if a consumer calls next() without awaiting
  let ended = false;
  let done = false;
  let blocked = false;
  let disconnected = false;
  let missed = 0;

  const size = (): number => queue.length - head;

  const finish = (): void => {
    if (done) return;
    done = true;
    queue = [];
    head = 0;
    if (blocked) {
      blocked = false;
      options.onUnblock();
    }
    options.onDone();
  };

  const take = (): LogLine => {
    const line = queue[head++] as LogLine;
    // Compact now and then so a long-lived queue does not keep consumed lines alive.
    if (head > 4096 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    if (blocked && size() <= lowWater) {
      blocked = false;
      options.onUnblock();
    }
    return line;
  };

  const overflowError = (): HsuError =>
    new HsuError(
      "resource_exhausted",
      `log subscriber fell ${options.highWaterMark} lines behind and was disconnected; it missed ${missed} line(s). Read faster, raise highWaterMark, or subscribe with overflow "block"`,
    );

  const iterator: AsyncIterator<LogLine> = {
    next() {
      if (done) return Promise.resolve({ value: undefined, done: true });
      if (size() > 0) return Promise.resolve({ value: take(), done: false });
      if (disconnected) {
        const err = overflowError();
        finish();
        return Promise.reject(err);
      }
      if (ended) {
        finish();
        return Promise.resolve({ value: undefined, done: true });
      }
      return new Promise((resolve) => {
        waiters.push(resolve);
      });
    },
    return() {
      finish();
      for (const w of waiters.splice(0)) w({ value: undefined, done: true });
      return Promise.resolve({ value: undefined, done: true });
    },
  };

  return {
    matches(unit, stream) {
      return (!units || units.has(unit)) && (!streams || streams.has(stream));
    },
    offer(line) {
      if (done || ended) return;
      if (disconnected) {
        missed++;
        return;
      }
      const w = waiters.shift();
      if (w) {
        w({ value: line, done: false });
        return;
      }
      queue.push(line);
      if (size() < options.highWaterMark) return;
      if (options.overflow === "disconnect") disconnected = true;
      else if (!blocked) {
        blocked = true;
        options.onBlock();
      }
    },
    end() {
      if (ended) return;
      ended = true;
      if (waiters.length > 0) {
        finish();
        for (const w of waiters.splice(0)) w({ value: undefined, done: true });
      }
    },
    get blocked() {
      return blocked;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
}
