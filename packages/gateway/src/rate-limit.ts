/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /** Tokens added per `perMs`. */
  readonly requests: number;
  readonly perMs: number;
  /** Bucket size: the most requests a rested client may send at once. */
  readonly burst: number;
  /** Clients remembered at most; the least recently seen are forgotten first (a full bucket again). */
  readonly maxClients?: number;
  /** The clock (ms); Date.now by default. */
  readonly now?: () => number;
}

/** The verdict on one request. */
export type RateVerdict = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

/** Per-client token buckets. */
export interface RateLimiter {
  take(client: string): RateVerdict;
  /** Clients currently remembered. */
  readonly size: number;
}

/**
 * A token bucket per client key (its address), refilled continuously at
 * requests/perMs up to `burst`. Memory stays bounded for any number of
 * clients: a Map in least-recently-seen order drops its oldest entries past
 * `maxClients` - a forgotten client only comes back with a full bucket, which
 * the rate already allowed it.
 */
export function createRateLimiter(o: RateLimiterOptions): RateLimiter {
  const now = o.now ?? Date.now;
  const max = o.maxClients ?? 100_000;
  const perMsRate = o.requests / o.perMs;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(client) {
      const t = now();
      let b = buckets.get(client);
      if (b) {
        buckets.delete(client);
        b.tokens = Math.min(o.burst, b.tokens + (t - b.at) * perMsRate);
        b.at = t;
      } else {
        b = { tokens: o.burst, at: t };
        if (buckets.size >= max) buckets.delete(buckets.keys().next().value!);
      }
      buckets.set(client, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return { ok: true };
      }
      return { ok: false, retryAfterMs: Math.ceil((1 - b.tokens) / perMsRate) };
    },
    get size() {
      return buckets.size;
    },
  };
}
