import type { ExitStatus } from "./handle.ts";
import type { IntegratedState } from "./lifecycle.ts";

/** What an integrated unit reports as it wakes, serves and sleeps. */
export type IntegratedEventType =
  | "starting"
  | "ready"
  | "start_failed"
  | "idle_shutdown"
  | "stopping"
  | "stopped"
  | "exited"
  | "closed";

/** One observable change of an integrated unit. */
export interface IntegratedEvent {
  readonly type: IntegratedEventType;
  readonly unit: string;
  /** The state after the change. */
  readonly state: IntegratedState;
  /** Clock time of the change (ms since the epoch). */
  readonly at: number;
  /** The unit's process id, once known. */
  readonly pid?: number;
  /** How the process ended (`stopped`, `exited`). */
  readonly exit?: ExitStatus;
  /** Why it failed (`start_failed`), or what went wrong while stopping. */
  readonly error?: Error;
}

/** A listener; returned functions unsubscribe. */
export type IntegratedListener = (event: IntegratedEvent) => void;

/**
 * Fans events out to listeners and to async iterators. Each iterator buffers
 * what it has not read yet, so a slow reader never misses an event; iterators
 * end when the hub closes or the reader stops.
 */
export class EventHub {
  readonly #listeners = new Set<IntegratedListener>();
  /** Ends one open iterator each. */
  readonly #enders = new Set<() => void>();
  #closed = false;

  /** Calls `listener` for every later event; returns the unsubscribe function. */
  on(listener: IntegratedListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  readonly #onListenerError: (e: unknown) => void;

  /** `onListenerError` hears about listeners that throw; default: a process warning. */
  constructor(onListenerError: (e: unknown) => void = warnListenerError) {
    this.#onListenerError = onListenerError;
  }

  /** Delivers an event. A listener that throws does not stop the others or the unit; it is reported. */
  emit(event: IntegratedEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (e) {
        this.#onListenerError(e);
      }
    }
  }

  /** Events from now on, as an async iterable; ends on `close()` or when `signal` aborts. */
  stream(signal?: AbortSignal): AsyncIterable<IntegratedEvent> {
    const hub = this;
    return {
      [Symbol.asyncIterator](): AsyncIterator<IntegratedEvent> {
        const queue: IntegratedEvent[] = [];
        let wake: (() => void) | undefined;
        let done = hub.#closed || signal?.aborted === true;
        const finish = () => {
          done = true;
          off();
          hub.#enders.delete(finish);
          signal?.removeEventListener("abort", finish);
          wake?.();
        };
        const off = hub.on((e) => {
          queue.push(e);
          wake?.();
        });
        hub.#enders.add(finish);
        signal?.addEventListener("abort", finish, { once: true });
        return {
          async next() {
            while (queue.length === 0 && !done) await new Promise<void>((r) => (wake = r));
            wake = undefined;
            if (queue.length > 0) return { value: queue.shift()!, done: false };
            return { value: undefined, done: true };
          },
          async return() {
            finish();
            queue.length = 0;
            return { value: undefined, done: true };
          },
        };
      },
    };
  }

  /** Ends every iterator (after they drain what they buffered) and drops listeners. */
  close(): void {
    this.#closed = true;
    for (const end of this.#enders) end();
    this.#enders.clear();
    this.#listeners.clear();
  }
}

function warnListenerError(e: unknown): void {
  // A broken listener must not break the unit's lifecycle, but it must not vanish either.
  process.emitWarning(`integrated unit event listener threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
}
