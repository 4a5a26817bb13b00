import { appendFileSync, closeSync, openSync, readSync, rmSync, watch, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { createSystemClock, type Clock, type Timer } from "../clock.ts";

/** A watch on one file: calls back when it may have changed, until closed. */
export interface FileWatch {
  close(): void;
}

/** Starts watching `path`; throws when it cannot (no such file, out of inotify watches). */
export type WatchFile = (path: string, onChange: () => void, onError: (error: Error) => void) => FileWatch;

/** fs.watch (inotify on Linux), never keeping the process alive by itself. */
export const watchWithFs: WatchFile = (path, onChange, onError) => {
  const w = watch(path, { persistent: false }, () => onChange());
  w.on("error", onError);
  return { close: () => w.close() };
};

/** Options for {@link createFileTail}. */
export interface FileTailOptions {
  /** Byte offset to start reading at. */
  from?: number;
  /** Once this resolves, the tail reads to the end of the file and ends. */
  until: Promise<unknown>;
  /**
   * First delay of the safety poll that looks for new bytes at the end of the
   * file (default 50 ms). While the file is watched the delay doubles after
   * each look that finds nothing, up to `trustedPollMs`, or `maxPollMs` once
   * a look found bytes the watch had not announced (then on the clock's whole
   * multiples of it, shared by every idle tail), and is reset by data; when
   * the file cannot be watched the poll stays at this delay.
   */
  pollMs?: number;
  /** Longest delay of the safety poll of a watched file whose watch missed a write (default 2 s). */
  maxPollMs?: number;
  /** Longest delay of the safety poll of a watched file whose watch has missed nothing (default 30 s). */
  trustedPollMs?: number;
  /** How the file is watched for appends (fs.watch by default). */
  watch?: WatchFile;
  /**
   * Told the file offset up to which the consumer wrote the output durably,
   * when it calls `acknowledgeWritten` (a log sink's `onWritten`): that, not
   * how far the tail read, is where a later reader resumes.
   */
  onWritten?: (offset: number) => void;
  /** Time source of the polling (the system clock by default). */
  clock?: Clock;
}

/** Out of inotify watches or instances, or descriptors: the tail polls instead. */
const cannotWatch = new Set(["ENOSPC", "EMFILE", "ENFILE", "ENOMEM", "EPERM", "EACCES", "ENOSYS", "EINVAL"]);

// One read buffer for every tail: a read is synchronous and its bytes are
// copied out before the next one, so tails need not hold 64 KiB each (two
// per unit: 125 MiB at 1,000 units).
const readBuffer = Buffer.allocUnsafe(64 * 1024);

/** What is known of a watch in one directory: whether an append there reaches it. */
type Proof = "probing" | "works" | "misses";

/** Per watch function and directory (a unit's capture files share one): what its probe found. */
const proofs = new WeakMap<WatchFile, Map<string, { state: Proof }>>();

/** How long the probe waits for its own append to reach its watch. */
const PROBE_MS = 2000;

/**
 * Whether appends to files in `dir` reach `watchFile`, found out once per
 * directory: a probe file there is watched and appended to, and the watch
 * either reports it within {@link PROBE_MS} ("works") or not ("misses").
 * Until then, "probing". A poll that later finds bytes a watch there did not
 * announce turns it to "misses" for good (see `createFileTail`).
 */
function proofOf(watchFile: WatchFile, dir: string, clock: Clock): { state: Proof } {
  let byDir = proofs.get(watchFile);
  if (!byDir) proofs.set(watchFile, (byDir = new Map()));
  const known = byDir.get(dir);
  if (known) return known;
  const proof: { state: Proof } = { state: "probing" };
  byDir.set(dir, proof);
  // One name per directory: a master that dies mid-probe leaves this one empty file, taken over next time.
  const file = join(dir, ".hsu-watch-probe");
  let w: FileWatch | undefined;
  let timer: Timer | undefined;
  let over = false;
  const done = (state: Proof) => {
    if (over) return;
    over = true;
    // A tail may have found a miss meanwhile: that stands.
    if (proof.state === "probing") proof.state = state;
    timer?.cancel();
    w?.close();
    rmSync(file, { force: true });
  };
  try {
    writeFileSync(file, "");
    w = watchFile(file, () => done("works"), () => done("misses"));
    timer = clock.setTimer(PROBE_MS, () => done("misses"));
    appendFileSync(file, "?");
  } catch {
    done("misses");
  }
  return proof;
}

/**
 * A readable that follows a file another process appends to (a unit's
 * output file), from an offset, until `until` resolves and the file is read
 * to its end. Appends are noticed by a watch on the file (inotify), so an
 * idle tail wakes nobody; a safety poll backing off to 30 s (to 2 s once
 * it found a write the watch missed) covers filesystems whose writes the
 * watch misses, and when `until` resolves the rest is read at once. Back-pressure is the stream's: nothing is read ahead
 * of the consumer, and the writer never blocks (it writes to a file, not a
 * pipe), which is what lets a unit outlive its master.
 */
export function createFileTail(path: string, options: FileTailOptions): FileTail {
  const from = options.from ?? 0;
  const clock = options.clock ?? createSystemClock();
  const pollMs = options.pollMs ?? 50;
  const maxPollMs = Math.max(pollMs, options.maxPollMs ?? 2000);
  const trustedPollMs = Math.max(maxPollMs, options.trustedPollMs ?? 30_000);
  const watchFile = options.watch ?? watchWithFs;
  let proof: { state: Proof } | undefined;
  // Some bytes were read: from then on the poll's backoff starts from `pollMs` after data, as before the probe.
  let flowed = false;
  let offset = from;
  let fd: number | undefined;
  let finished = false;
  let destroyed = false;
  let watcher: FileWatch | undefined;
  // The file could not be watched: poll at the first delay, never backing off.
  let unwatchable = false;
  let delay = pollMs;
  // A look of the poll found bytes although the file was watched: this watch misses writes.
  let missed = false;
  // The current wait is watched, and the poll (not the watch or `until`) ended it.
  let watchedWait = false;
  let byPoll = false;
  let timer: Timer | undefined;
  // Set while the stream wants bytes and none are there: then a change, a timer or `until` reads again.
  let waiting: (() => void) | undefined;
  const wake = () => {
    const attempt = waiting;
    if (!attempt) return;
    waiting = undefined;
    timer?.cancel();
    timer = undefined;
    attempt();
  };
  void options.until.then(
    () => ((finished = true), wake()),
    () => ((finished = true), wake()),
  );
  const startWatching = () => {
    if (watcher || unwatchable || destroyed) return;
    try {
      // The directory's probe first: a watch function may count or fail its watches.
      proof = proofOf(watchFile, dirname(path), clock);
      watcher = watchFile(path, wake, () => {
        // A watch that broke (the file went away, the kernel dropped it): the poll carries on alone.
        watcher?.close();
        watcher = undefined;
        unwatchable = true;
        delay = pollMs;
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Not there yet: tried again once it is; anything else means no watch for this file.
      if (code !== "ENOENT") {
        unwatchable = true;
        if (code === undefined || !cannotWatch.has(code)) process.emitWarning(`hsu: cannot watch ${path} (${(e as Error).message}); polling it`);
      }
    }
  };
  const stream = new Readable({
    read() {
      const attempt = () => {
        timer = undefined;
        const polled = byPoll && watchedWait;
        byPoll = false;
        try {
          fd ??= openSync(path, "r");
          // Watched before reading, so an append right after an empty read is never missed.
          startWatching();
          const n = readSync(fd, readBuffer, 0, readBuffer.length, offset);
          if (n > 0) {
            offset += n;
            flowed = true;
            delay = pollMs;
            if (polled && watcher) {
              missed = true;
              // This watch misses writes: no tail of the directory starts backed off any more.
              if (proof) proof.state = "misses";
            }
            stream.push(Buffer.from(readBuffer.subarray(0, n)));
            return;
          }
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
            stream.destroy(e as Error);
            return;
          }
        }
        // At the end: done if the writer is gone (checked after a last empty read), else wait for a change.
        if (finished) {
          stream.push(null);
          return;
        }
        waiting = attempt;
        watchedWait = watcher !== undefined;
        const cap = missed ? maxPollMs : trustedPollMs;
        // A tail that has read nothing yet (a unit started or restarted that prints nothing) starts backed off;
        // once data flowed, data resets the backoff as for any tail.
        if (watcher && !missed && !flowed && proof?.state === "works") delay = cap;
        // Backed off all the way, idle tails look on the same whole multiples of the cap: one wake-up for all of them.
        const ms = delay >= cap ? cap - (clock.now() % cap) : delay;
        timer = clock.setTimer(ms, () => ((byPoll = true), wake()));
        if (watcher) delay = Math.min(delay * 2, cap);
      };
      attempt();
    },
    destroy(err, cb) {
      destroyed = true;
      waiting = undefined;
      timer?.cancel();
      watcher?.close();
      watcher = undefined;
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
