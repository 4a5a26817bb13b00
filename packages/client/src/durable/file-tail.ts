import { closeSync, openSync, readSync } from "node:fs";
import { Readable } from "node:stream";
import { createSystemClock, type Clock, type Timer } from "../clock.ts";

/** Options for {@link createFileTail}. */
export interface FileTailOptions {
  /** Byte offset to start reading at. */
  from?: number;
  /** Once this resolves, the tail reads to the end of the file and ends. */
  until: Promise<unknown>;
  /** How often to look for new bytes at the end of the file (default 50 ms). */
  pollMs?: number;
  /**
   * Told the file offset up to which the consumer wrote the output durably,
   * when it calls `acknowledgeWritten` (a log sink's `onWritten`): that, not
   * how far the tail read, is where a later reader resumes.
   */
  onWritten?: (offset: number) => void;
  /** Time source of the polling (the system clock by default). */
  clock?: Clock;
}

/**
 * A readable that follows a file another process appends to (a unit's
 * output file), from an offset, until `until` resolves and the file is read
 * to its end. Back-pressure is the stream's: nothing is read ahead of the
 * consumer, and the writer never blocks (it writes to a file, not a pipe),
 * which is what lets a unit outlive its master.
 */
export function createFileTail(path: string, options: FileTailOptions): FileTail {
  const from = options.from ?? 0;
  let offset = from;
  let fd: number | undefined;
  let finished = false;
  const clock = options.clock ?? createSystemClock();
  let timer: Timer | undefined;
  void options.until.then(
    () => (finished = true),
    () => (finished = true),
  );
  const buf = Buffer.allocUnsafe(64 * 1024);
  const stream = new Readable({
    read() {
      const attempt = () => {
        timer = undefined;
        try {
          fd ??= openSync(path, "r");
          const n = readSync(fd, buf, 0, buf.length, offset);
          if (n > 0) {
            offset += n;
            stream.push(Buffer.from(buf.subarray(0, n)));
            return;
          }
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
            stream.destroy(e as Error);
            return;
          }
        }
        // At the end: done if the writer is gone (checked after a last empty read), else look again soon.
        if (finished) {
          stream.push(null);
          return;
        }
        timer = clock.setTimer(options.pollMs ?? 50, attempt);
      };
      attempt();
    },
    destroy(err, cb) {
      timer?.cancel();
      if (fd !== undefined) closeSync(fd);
      cb(err);
    },
  });
  Object.defineProperty(stream, "offset", { get: () => offset });
  const onWritten = options.onWritten;
  Object.defineProperty(stream, "acknowledgeWritten", { value: (bytes: number) => onWritten?.(from + bytes) });
  return stream as FileTail;
}

/** A file tail: how far it read, and the hook a log sink acknowledges written bytes through. */
export type FileTail = Readable & {
  /** The file offset read up to (handed to the consumer). */
  readonly offset: number;
  /** Bytes of this tail's output (from `from`) that are durably written; see {@link FileTailOptions.onWritten}. */
  acknowledgeWritten(sourceBytes: number): void;
};
