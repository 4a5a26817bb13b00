/** A promise with its settle functions, for waits that several callers share. */
export interface Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve(v: T): void;
  reject(e: Error): void;
}

/**
 * A promise settled from outside. Its rejection is observed here, so one that
 * nobody waits for is not reported as unhandled; waiters still see it (the
 * owner reports such failures through its own events).
 */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}
