/** A cancellable timer returned by {@link Clock.setTimeout}. */
export interface ClockTimer {
  cancel(): void;
}

/**
 * The time source health monitors schedule with. Injected so threshold and
 * interval logic is tested without sleeping; the supervisor's clock fits it.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): ClockTimer;
}

/** The same idea with `setTimer(ms, fn)`, as the supervisor's clock has it. */
export interface TimerClock {
  now(): number;
  setTimer(ms: number, fn: () => void): ClockTimer;
}

/** Accepts either clock shape, so the supervisor can pass its own clock to health monitors. */
export function toClock(clock: Clock | TimerClock): Clock {
  if ("setTimeout" in clock && typeof clock.setTimeout === "function") return clock;
  const timerClock = clock as TimerClock;
  return { now: () => timerClock.now(), setTimeout: (fn, ms) => timerClock.setTimer(ms, fn) };
}

/** The real clock: `Date.now` and timers that do not keep the process alive. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** A clock that only moves when told to; for tests of time-based logic. */
export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, firing due timers in order (including ones they schedule). */
  advance(ms: number): void;
  /** Timers not yet fired or cancelled. */
  readonly pending: number;
}

/** Creates a {@link ManualClock} starting at `start` ms. */
export function createManualClock(start = 0): ManualClock {
  let now = start;
  let nextId = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return { cancel: () => void timers.delete(id) };
    },
    advance(ms) {
      const target = now + ms;
      for (;;) {
        let dueId: number | undefined;
        let due: { at: number; fn: () => void } | undefined;
        for (const [id, t] of timers) if (t.at <= target && (!due || t.at < due.at)) [dueId, due] = [id, t];
        if (!due || dueId === undefined) break;
        timers.delete(dueId);
        now = due.at;
        due.fn();
      }
      now = target;
    },
    get pending() {
      return timers.size;
    },
  };
}
