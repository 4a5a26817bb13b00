import type { Transport } from "@connectrpc/connect";

/** The right to send one call to a running unit; released when the call ends. */
export interface CallLease {
  /** The running unit's own transport. */
  readonly transport: Transport;
  /** The running unit's address. */
  readonly address: string;
  /** What is left of the caller's timeout after waiting for the unit (undefined: none). */
  readonly remainingMs: number | undefined;
  /** Marks the call as ended; idempotent. */
  release(): void;
}

/** Hands out leases, waking the unit when it is not running. */
export interface LeaseSource {
  /**
   * Resolves once the unit runs, or for a unary call once it is spawned with
   * the master's socket (the lease's transport then sends at once and resends
   * if the unit did not adopt it); rejects with a ConnectError (UNAVAILABLE,
   * CANCELED, DEADLINE_EXCEEDED).
   */
  acquire(signal: AbortSignal | undefined, timeoutMs: number | undefined, kind: "unary" | "stream"): Promise<CallLease>;
}

/**
 * A connect-es Transport that waits for the unit to be running before each
 * call and counts the call as in flight until it ends (a stream until its
 * last message, error, `break`, or abort), so generated clients work
 * unchanged on a unit that is started on demand and stopped when idle.
 */
export function createWakeTransport(source: LeaseSource): Transport {
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const lease = await source.acquire(signal, timeoutMs, "unary");
      try {
        return await lease.transport.unary(method, signal, lease.remainingMs, header, input, contextValues);
      } finally {
        lease.release();
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const lease = await source.acquire(signal, timeoutMs, "stream");
      try {
        const response = await lease.transport.stream(method, signal, lease.remainingMs, header, input, contextValues);
        return { ...response, message: releaseWhenDone(response.message, lease, signal) };
      } catch (e) {
        lease.release();
        throw e;
      }
    },
  };
}

function releaseWhenDone<T>(messages: AsyncIterable<T>, lease: CallLease, signal: AbortSignal | undefined): AsyncIterable<T> {
  // A caller that aborts and never reads again would otherwise hold the unit up forever.
  const onAbort = () => lease.release();
  signal?.addEventListener("abort", onAbort, { once: true });
  const release = () => {
    signal?.removeEventListener("abort", onAbort);
    lease.release();
  };
  return {
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const r = await it.next();
            if (r.done) release();
            return r;
          } catch (e) {
            release();
            throw e;
          }
        },
        async return(value?: unknown) {
          release();
          return (await it.return?.(value)) ?? { value: undefined, done: true };
        },
        async throw(e?: unknown) {
          release();
          if (it.throw) return it.throw(e);
          throw e;
        },
      };
    },
  };
}
