/**
 * Time source and timer for the resource code, injected so periodic checks
 * can be driven by a test without sleeping. The supervisor's Clock has this
 * shape too, so one clock can be passed to both.
 */
export interface ResourceClock {
  /** Milliseconds (any origin; only differences are used). */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimer(ms: number, fn: () => void): { cancel(): void };
}

/** The real clock: Date.now() and Node timers. */
export const systemClock: ResourceClock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const handle = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(handle) };
  },
};
