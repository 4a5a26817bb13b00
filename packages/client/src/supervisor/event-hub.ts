/**
 * Fan-out of events to any number of subscribers, as listeners or async
 * iterators. An iterator that stops (break, return, throw) unsubscribes at
 * once, so an abandoned subscriber holds no memory. Events queue per
 * iterator until it pulls them.
 */
export interface EventHub<T> {
  emit(event: T): void;
  /** Calls `listener` for every later event; returns the unsubscribe function. */
  subscribe(listener: (event: T) => void): () => void;
  /** A fresh iterator over every later event; ends when the hub closes or `signal` aborts. */
  iterate(signal?: AbortSignal): AsyncIterableIterator<T>;
  /** Ends every iterator and drops every listener. */
  close(): void;
  /** Current listeners plus open iterators (for leak checks). */
  readonly subscriberCount: number;
}

/** Creates an event hub. Listener exceptions are reported through `onListenerError`. */
export function createEventHub<T>(onListenerError: (err: unknown) => void = reportListenerError): EventHub<T> {
  const listeners = new Set<(event: T) => void>();
  const closers = new Set<() => void>();
  let closed = false;
  const hub: EventHub<T> = {
    emit(event) {
      for (const listener of [...listeners]) {
        try {
          listener(event);
        } catch (err) {
          onListenerError(err);
        }
      }
    },
    subscribe(listener) {
      if (closed) return () => {};
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    iterate(signal) {
      const queue: T[] = [];
      let waiting: ((r: IteratorResult<T>) => void) | undefined;
      let done = closed;
      const finish = (): IteratorResult<T> => {
        done = true;
        listeners.delete(push);
        closers.delete(end);
        signal?.removeEventListener("abort", end);
        queue.length = 0;
        return { value: undefined, done: true };
      };
      const push = (event: T): void => {
        if (waiting) {
          const w = waiting;
          waiting = undefined;
          w({ value: event, done: false });
        } else queue.push(event);
      };
      const end = (): void => {
        const result = finish();
        waiting?.(result);
        waiting = undefined;
      };
      if (!done) {
        listeners.add(push);
        closers.add(end);
        if (signal?.aborted) end();
        else signal?.addEventListener("abort", end, { once: true });
      }
      const it: AsyncIterableIterator<T> = {
        next() {
          if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
          if (done) return Promise.resolve({ value: undefined, done: true });
          return new Promise((resolve) => (waiting = resolve));
        },
        return() {
          end();
          return Promise.resolve({ value: undefined, done: true });
        },
        [Symbol.asyncIterator]() {
          return it;
        },
      };
      return it;
    },
    close() {
      closed = true;
      for (const end of [...closers]) end();
      listeners.clear();
    },
    get subscriberCount() {
      return listeners.size;
    },
  };
  return hub;
}

function reportListenerError(err: unknown): void {
  // A broken listener must not break the supervisor, but it must not vanish either.
  process.emitWarning(`HSU event listener threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}
