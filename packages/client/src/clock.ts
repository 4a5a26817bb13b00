/** A pending timer that can be cancelled; cancelling a fired or cancelled timer does nothing. */
export interface Timer {
  cancel(): void;
}

/**
 * The one time source of @hsu/client. Backoff, breaker windows, graceful and
 * start timeouts, idle stops, health intervals, resource checks and schedules
 * all go through it, so tests move time by hand instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds (a negative delay counts as 0). */
  setTimer(ms: number, fn: () => void): Timer;
  /** Resolves after `ms` milliseconds; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Options of {@link createSystemClock}. */
export interface SystemClockOptions {
  /**
   * Unref the Node timers, so a pending timer (an idle stop, the next health
   * probe) never keeps the process alive by itself. Default false: a pending
   * timer keeps the process running, as plain `setTimeout` does.
   */
  unref?: boolean;
}

function sleepWith(clock: Pick<Clock, "setTimer">, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      timer.cancel();
      reject(signal?.reason);
    };
    const timer = clock.setTimer(ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The real clock: `Date.now` and Node timers. */
export function createSystemClock(options: SystemClockOptions = {}): Clock {
  const unref = options.unref ?? false;
  const clock: Clock = {
    now: () => Date.now(),
    setTimer(ms, fn) {
      const handle = setTimeout(fn, Math.max(0, ms));
      if (unref) handle.unref();
      return { cancel: () => clearTimeout(handle) };
    },
    sleep: (ms, signal) => sleepWith(clock, ms, signal),
  };
  return clock;
}

/** A clock that only moves when the test calls `advance`. */
export interface FakeClock extends Clock {
  /** Moves time forward, firing every due timer in due-time order (ties in creation order). */
  advance(ms: number): void;
  /** How many timers are neither fired nor cancelled. */
  pending(): number;
}

/** Creates a manual clock starting at `start` ms (default 0) for deterministic tests. */
export function createFakeClock(start = 0): FakeClock {
  let now = start;
  let seq = 0;
  const timers = new Map<number, { due: number; fn: () => void }>();
  const clock: FakeClock = {
    now: () => now,
    setTimer(ms, fn) {
      const id = seq++;
      timers.set(id, { due: now + Math.max(0, ms), fn });
      return { cancel: () => void timers.delete(id) };
    },
    sleep: (ms, signal) => sleepWith(clock, ms, signal),
    advance(ms) {
      const target = now + ms;
      // Timers set by a firing timer are honoured if they fall due within the window.
      for (;;) {
        let next: [number, { due: number; fn: () => void }] | undefined;
        for (const entry of timers) {
          if (entry[1].due <= target && (!next || entry[1].due < next[1].due)) next = entry;
        }
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].due;
        next[1].fn();
      }
      now = target;
    },
    pending: () => timers.size,
  };
  return clock;
}
