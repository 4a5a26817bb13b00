/** A pending timer; cancelling one that fired or was cancelled does nothing. */
export interface IdleTimer {
  cancel(): void;
}

/**
 * The time source of integrated units: idle timeouts, start timeouts and stop
 * escalation all go through it so tests drive time by hand instead of
 * sleeping. Its shape is a subset of the supervisor's clock, so one object
 * can serve both.
 */
export interface IntegratedClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimer(ms: number, fn: () => void): IdleTimer;
}

/** The real clock: Date.now and unref'd Node timers (a pending idle timer never keeps the master alive). */
export const systemClock: IntegratedClock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const handle = setTimeout(fn, Math.max(0, ms));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** A clock that moves only when a test calls `advance`. */
export interface ManualClock extends IntegratedClock {
  /** Moves time forward, firing due timers in due order (ties in creation order). */
  advance(ms: number): void;
  /** Timers neither fired nor cancelled. */
  pending(): number;
}

/** Creates a {@link ManualClock} starting at `start` ms, for deterministic idle tests. */
export function createManualClock(start = 0): ManualClock {
  let now = start;
  let seq = 0;
  const timers = new Map<number, { due: number; fn: () => void }>();
  return {
    now: () => now,
    setTimer(ms, fn) {
      const id = seq++;
      timers.set(id, { due: now + Math.max(0, ms), fn });
      return { cancel: () => void timers.delete(id) };
    },
    advance(ms) {
      const target = now + ms;
      // A timer set by a firing timer still fires if it falls due inside the window.
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
}
