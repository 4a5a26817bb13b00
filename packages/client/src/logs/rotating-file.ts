import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { HsuError } from "../errors.ts";

/** Options of {@link createRotatingFile}. */
export interface RotatingFileOptions {
  /** The live file; rotated copies are `<path>.1` (newest) .. `<path>.<maxFiles>`. */
  path: string;
  maxFileBytes: number;
  maxFiles: number;
  /** Told when queued bytes cross `highWaterBytes` (true) and fall to half of it (false). */
  onPressure?: (high: boolean) => void;
  highWaterBytes?: number;
  /**
   * Told, after each write(2) returned, how many records (counted from the
   * first `write` call) are now in the file. Not called again once a write failed.
   */
  onWritten?: (records: number) => void;
}

/** Records are appended in pieces of at most this many bytes (one `onWritten` per piece). */
export const WRITE_PIECE_BYTES = 64 * 1024;

/** An append-only file with size-based rotation and batched, ordered writes. */
export interface RotatingFile {
  /** Queues one record (a whole line including its `\n`); never blocks. */
  write(record: string): void;
  /** Bytes queued or being written. */
  readonly pendingBytes: number;
  /** Records accepted by `write` so far. */
  readonly queued: number;
  /** Resolves when everything queued so far is on disk; rejects if a write failed. */
  flush(): Promise<void>;
  /** Flushes and closes the file; later writes are refused. */
  close(): Promise<void>;
}

/**
 * Creates a rotating file. Records are queued in memory and written in
 * batches by one async loop, so order is kept and the event loop never waits
 * on the disk per line. Rotation happens between records: a record never
 * straddles two files, and a record larger than `maxFileBytes` gets a file
 * of its own.
 */
export function createRotatingFile(options: RotatingFileOptions): RotatingFile {
  const { path, maxFileBytes, maxFiles } = options;
  const highWater = options.highWaterBytes ?? Number.POSITIVE_INFINITY;
  let queue: string[] = [];
  let queueBytes: number[] = [];
  let pending = 0;
  let pressured = false;
  let fh: FileHandle | undefined;
  let size = 0;
  let loop: Promise<void> | undefined;
  let failure: HsuError | undefined;
  let closed = false;
  let queued = 0;
  let written = 0;
  let broken = false;

  const setPressure = (): void => {
    const high = pressured ? pending > highWater / 2 : pending >= highWater;
    if (high !== pressured) {
      pressured = high;
      options.onPressure?.(high);
    }
  };

  const ensureOpen = async (): Promise<FileHandle> => {
    if (fh) return fh;
    fh = await open(path, "a+");
    size = (await fh.stat()).size;
    if (size > 0) {
      // A record torn by a crash mid-write is ended here, so the next record starts a line of its own.
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) {
        await fh.appendFile("\n");
        size++;
      }
    }
    return fh;
  };

  const rotate = async (): Promise<void> => {
    await fh?.close();
    fh = undefined;
    if (maxFiles === 0) {
      await rm(path, { force: true });
    } else {
      // Shift from the oldest down so each rename lands on a free (or expendable) name;
      // rename over `<path>.<maxFiles>` is what deletes the oldest copy.
      for (let i = maxFiles - 1; i >= 1; i--) await renameIfExists(`${path}.${i}`, `${path}.${i + 1}`);
      await renameIfExists(path, `${path}.1`);
    }
    await ensureOpen();
  };

  const writeBatch = async (records: string[], bytes: number[]): Promise<void> => {
    await ensureOpen(); // learns the size of a file left by an earlier run before deciding to rotate
    let parts: string[] = [];
    let partBytes = 0;
    const append = async (): Promise<void> => {
      if (parts.length > 0) await (await ensureOpen()).appendFile(parts.join(""));
      size += partBytes;
      pending -= partBytes;
      written += parts.length;
      setPressure();
      parts = [];
      partBytes = 0;
      if (!broken) options.onWritten?.(written);
    };
    for (let i = 0; i < records.length; i++) {
      const n = bytes[i] ?? 0;
      if (size + partBytes > 0 && size + partBytes + n > maxFileBytes) {
        await append();
        await rotate();
      } else if (partBytes > 0 && partBytes + n > WRITE_PIECE_BYTES) {
        await append();
      }
      parts.push(records[i] as string);
      partBytes += n;
    }
    await append();
  };

  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      const records = queue;
      const bytes = queueBytes;
      queue = [];
      queueBytes = [];
      try {
        await writeBatch(records, bytes);
      } catch (err) {
        // Keep going with later records, but make the loss loud: flush() and close() reject,
        // and nothing counts as written any more (a durable reader resumes from before the loss).
        broken = true;
        pending = queue.reduce((sum, _r, i) => sum + (queueBytes[i] ?? 0), 0);
        setPressure();
        failure ??= new HsuError("internal", `writing log file ${path} failed (some lines were not written): ${(err as Error).message}; check the log directory's permissions and free space`, {}, { cause: err });
        const failed = fh;
        fh = undefined;
        // The write failure above is what gets reported; a failing close adds nothing.
        await failed?.close().catch(() => undefined);
      }
    }
    loop = undefined;
  };

  const kick = (): void => {
    // Start on the next macrotask so the lines of one chunk are written as one batch.
    loop ??= new Promise<void>((resolve) => setImmediate(resolve)).then(drain);
  };

  const flush = async (): Promise<void> => {
    while (loop) await loop;
    if (failure) {
      const f = failure;
      failure = undefined;
      throw f;
    }
  };

  return {
    write(record) {
      if (closed) throw new HsuError("failed_precondition", `log file ${path} is closed`);
      const n = Buffer.byteLength(record);
      queue.push(record);
      queueBytes.push(n);
      pending += n;
      queued++;
      setPressure();
      kick();
    },
    get pendingBytes() {
      return pending;
    },
    get queued() {
      return queued;
    },
    flush,
    async close() {
      closed = true;
      try {
        await flush();
      } finally {
        await fh?.close();
        fh = undefined;
      }
    },
  };
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}
