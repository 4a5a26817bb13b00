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
  /** Told the offset after every chunk (to persist how far the master read). */
  onOffset?: (offset: number) => void;
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
export function createFileTail(path: string, options: FileTailOptions): Readable & { readonly offset: number } {
  let offset = options.from ?? 0;
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
            options.onOffset?.(offset);
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
  return stream as Readable & { readonly offset: number };
}
