import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { AttachGatewayRequest, AttachGatewayResponseSchema } from "@hsu/proto";
import { randomUUID } from "node:crypto";

/**
 * Direct grants: after the master has authorized a caller for a unit method
 * (one call through the unit proxy), the gateway that forwarded it may call
 * the unit's socket itself for the same caller and method, for a while - the
 * master's hop is the larger half of a gateway call's cost. The rules that
 * keep this as safe as asking the master every time:
 *
 * - **Epochs.** Every grant carries the epoch it was issued in. Anything
 *   that may take away what a grant allowed (any mutating control call - a
 *   revoke, an apply -, a new OIDC key set) starts a new epoch, and is
 *   answered only once every attached gateway acknowledged it (dropped its
 *   grants), or once it can no longer use them (below).
 * - **Freshness.** A gateway uses its grants only while the master's last
 *   message on its channel is under `fresh_ms` old (by the host's monotonic
 *   clock, stamped by the master). The master speaks at least every third of
 *   that while the gateway holds direct routes. A gateway that stopped
 *   reading - frozen, starved, cut off - stops using its grants by itself,
 *   so a change waits for it at most `fresh_ms` after its last message.
 * - **Holds.** A grant names the process to call, and the master holds that
 *   process up for it (a lease, as a proxied call has) until the gateway
 *   releases it (it went quiet) or the process leaves (stop, restart, exit:
 *   the gateway is told to withdraw first, and a drain waits for its direct
 *   calls as for proxied ones, at most `withdrawMs`). A pool is never called
 *   directly: the master's round robin stays the one balancer.
 * - **Expiry.** A grant lasts at most `grantTtlMs`, and never beyond its
 *   credential's own expiry.
 * - Refusals are never granted: every refused call reaches the master, which
 *   audits it.
 */

/** The processes grants send calls to (the master's integrated slots). */
export interface GrantTargets {
  /** How long a direct route may stay unused before the gateway releases it; undefined: never call `unit` directly (a pool, an unknown unit). */
  quietMs(unit: string): number | undefined;
  /** Holds the running process `unit` names up (never waking it); undefined when none runs. */
  hold(unit: string, onLeaving: () => void): Promise<{ address: string; release(): void } | undefined>;
  /** Whether `pid` is the running process of `unit`, a gateway unit of this master: only such a process attaches. */
  isGateway(unit: string, pid: number): boolean;
}

/** Options of {@link createGatewayGrants}. */
export interface GatewayGrantsOptions {
  readonly targets: GrantTargets;
  /** How long a master's message stays fresh for the gateway (default 3000 ms). */
  readonly freshMs?: number;
  /** The longest a grant lasts (default 30 s). */
  readonly grantTtlMs?: number;
  /** How long a withdrawn route's direct calls may keep the process (default 2000 ms). */
  readonly withdrawMs?: number;
  /** The host's monotonic clock in ms (default CLOCK_MONOTONIC through process.hrtime). */
  readonly monotonicMs?: () => number;
  /** Wall-clock ms (credential expiries are wall-clock; default Date.now). */
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

/** The master's side of direct grants. */
export interface GatewayGrants {
  /** The current epoch. */
  readonly epoch: number;
  /**
   * Starts a new epoch: resolves once no gateway can use a grant of an older
   * one (each acknowledged it, or its last message went stale).
   */
  invalidate(why: string): Promise<void>;
  /**
   * The response headers that grant the caller of a proxied unit call direct
   * access, or undefined: `attachment` is the call's `hsu-gateway-attachment`,
   * `admittedIn` the epoch the call was authorized in, `expiresAt` its
   * credential's expiry (wall-clock ms), if it has one.
   */
  offer(attachment: string | undefined, unit: string, admittedIn: number, expiresAt: number | undefined): Record<string, string> | undefined;
  /** AttachGateway: the gateway's channel, from its hello to its end. */
  attach(requests: AsyncIterable<AttachGatewayRequest>, signal: AbortSignal): AsyncIterable<MessageInitShape<typeof AttachGatewayResponseSchema>>;
  /** Ends every channel and releases every hold (at shutdown). */
  close(): void;
}

/** The response headers of a grant (names the gateway reads; `hsu-*` never reaches a client). */
export const GRANT_HEADERS = {
  epoch: "hsu-grant-epoch",
  ttl: "hsu-grant-ttl-ms",
  quiet: "hsu-grant-quiet-ms",
  address: "hsu-grant-address",
} as const;

/** The request header naming the channel a proxied call's grant is for. */
export const ATTACHMENT_HEADER = "hsu-gateway-attachment";

type Response = MessageInitShape<typeof AttachGatewayResponseSchema>;

interface Hold {
  readonly address: string;
  readonly release: () => void;
  withdrawn: boolean;
}

interface Attachment {
  readonly id: string;
  readonly unit: string;
  readonly pid: number;
  acked: number;
  /** A unit's hold, or "pending" while it is taken. */
  readonly holds: Map<string, Hold | "pending">;
  readonly queue: Response[];
  wake: (() => void) | undefined;
  closed: boolean;
  /** When the last message before the newest epoch was sent (monotonic ms). */
  lastSentAt: number;
  heartbeat: NodeJS.Timeout | undefined;
  readonly waiters: Array<{ epoch: number; resolve: () => void }>;
}

/** Messages queued for a gateway that does not read them before its channel is closed. */
const MAX_QUEUED = 64;

const defaultMonotonic = () => Number(process.hrtime.bigint() / 1_000_000n);

export function createGatewayGrants(options: GatewayGrantsOptions): GatewayGrants {
  const freshMs = options.freshMs ?? 3000;
  const ttlMs = options.grantTtlMs ?? 30_000;
  const withdrawMs = options.withdrawMs ?? 2000;
  const mono = options.monotonicMs ?? defaultMonotonic;
  const now = options.now ?? Date.now;
  const attachments = new Map<string, Attachment>();
  let epoch = 1;

  const send = (a: Attachment, kind: Response["kind"] = { case: undefined }) => {
    if (a.closed) return;
    // A gateway that stopped reading is not queued for without end: its channel closes (its grants are stale by then).
    if (a.queue.length >= MAX_QUEUED) return detach(a);
    a.lastSentAt = mono();
    a.queue.push({ epoch: BigInt(epoch), sentAtMonotonicMs: BigInt(a.lastSentAt), kind });
    a.wake?.();
  };

  const releaseHold = (a: Attachment, unit: string) => {
    const h = a.holds.get(unit);
    a.holds.delete(unit);
    if (h && h !== "pending") h.release();
    if (a.holds.size === 0 && a.heartbeat) {
      clearInterval(a.heartbeat);
      a.heartbeat = undefined;
    }
  };

  const detach = (a: Attachment) => {
    if (a.closed) return;
    a.closed = true;
    attachments.delete(a.id);
    for (const unit of [...a.holds.keys()]) releaseHold(a, unit);
    if (a.heartbeat) clearInterval(a.heartbeat);
    a.wake?.();
  };

  const ack = (a: Attachment, e: number) => {
    if (e > a.acked) a.acked = e;
    for (let i = a.waiters.length - 1; i >= 0; i--) {
      const w = a.waiters[i]!;
      if (w.epoch <= a.acked) {
        a.waiters.splice(i, 1);
        w.resolve();
      }
    }
  };

  // Resolves once `a` acknowledged `e`, or once what it heard before `e` went stale.
  const settled = (a: Attachment, e: number, staleAt: number, why: string): Promise<void> =>
    new Promise((resolve) => {
      if (a.acked >= e || a.closed) return resolve();
      // Whatever the gateway heard before `e` is stale now: it cannot use an older grant any more, acknowledged or not.
      const timer = setTimeout(() => {
        const i = a.waiters.findIndex((w) => w.resolve === done);
        if (i >= 0) a.waiters.splice(i, 1);
        if (a.holds.size > 0) options.log?.(`gateway "${a.unit}" (pid ${a.pid}) did not acknowledge a new grant epoch (${why}) before its grants went stale (${freshMs} ms after the master's last message); is it overloaded or stopped?`);
        resolve();
      }, Math.max(0, staleAt - mono()));
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      a.waiters.push({ epoch: e, resolve: done });
    });

  const withdraw = (a: Attachment, unit: string) => {
    const h = a.holds.get(unit);
    if (!h || h === "pending" || h.withdrawn) return;
    h.withdrawn = true;
    send(a, { case: "withdraw", value: unit });
    // The gateway answers `released` once its direct calls ended; the process is kept at most this long for them.
    setTimeout(() => {
      if (a.holds.get(unit) === h) releaseHold(a, unit);
    }, withdrawMs).unref();
  };

  const startHeartbeat = (a: Attachment) => {
    if (a.heartbeat || a.closed) return;
    send(a);
    a.heartbeat = setInterval(() => send(a), Math.max(1, Math.floor(freshMs / 3)));
    a.heartbeat.unref();
  };

  const takeHold = (a: Attachment, unit: string) => {
    a.holds.set(unit, "pending");
    options.targets.hold(unit, () => withdraw(a, unit)).then(
      (h) => {
        if (a.holds.get(unit) !== "pending" || a.closed) return void h?.release();
        if (!h) return void a.holds.delete(unit);
        a.holds.set(unit, { address: h.address, release: h.release, withdrawn: false });
        startHeartbeat(a);
      },
      () => {
        if (a.holds.get(unit) === "pending") a.holds.delete(unit);
      },
    );
  };

  const handle = (a: Attachment, m: AttachGatewayRequest) => {
    switch (m.kind.case) {
      case "ackEpoch":
        ack(a, Number(m.kind.value));
        break;
      case "released":
        releaseHold(a, m.kind.value);
        break;
      case "hello":
        break;
    }
  };

  return {
    get epoch() {
      return epoch;
    },
    async invalidate(why) {
      if (attachments.size === 0) {
        epoch++;
        return;
      }
      // What each gateway heard before the new epoch goes stale this long after it was sent.
      const before = [...attachments.values()].map((a) => ({ a, staleAt: a.lastSentAt + freshMs }));
      const e = ++epoch;
      for (const { a } of before) send(a);
      await Promise.all(before.map(({ a, staleAt }) => settled(a, e, staleAt, why)));
    },
    offer(id, unit, admittedIn, expiresAt) {
      if (id === undefined || admittedIn !== epoch) return undefined;
      const a = attachments.get(id);
      if (!a || a.closed) return undefined;
      const quiet = options.targets.quietMs(unit);
      if (quiet === undefined) return undefined;
      const h = a.holds.get(unit);
      if (h === undefined) {
        takeHold(a, unit);
        return undefined;
      }
      if (h === "pending" || h.withdrawn) return undefined;
      const ttl = Math.min(ttlMs, expiresAt === undefined ? ttlMs : expiresAt - now());
      if (ttl <= 0) return undefined;
      return {
        [GRANT_HEADERS.epoch]: String(epoch),
        [GRANT_HEADERS.ttl]: String(Math.floor(ttl)),
        [GRANT_HEADERS.quiet]: String(quiet),
        [GRANT_HEADERS.address]: h.address,
      };
    },
    async *attach(requests, signal) {
      const it = requests[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done || first.value.kind.case !== "hello") {
        throw new ConnectError("AttachGateway starts with a hello naming the gateway unit and its pid", Code.InvalidArgument);
      }
      const { unit, pid } = first.value.kind.value;
      if (!options.targets.isGateway(unit, pid)) {
        throw new ConnectError(
          `direct grants go only to a running gateway unit of this master; "${unit}" with pid ${pid} is not one (a gateway started by hand calls every unit through the master)`,
          Code.FailedPrecondition,
        );
      }
      const a: Attachment = { id: randomUUID(), unit, pid, acked: epoch, holds: new Map(), queue: [], wake: undefined, closed: false, lastSentAt: mono(), heartbeat: undefined, waiters: [] };
      attachments.set(a.id, a);
      const end = () => detach(a);
      signal.addEventListener("abort", end, { once: true });
      void (async () => {
        try {
          for (;;) {
            const r = await it.next();
            if (r.done) break;
            handle(a, r.value);
          }
        } catch {
          // The gateway went away: its channel ends below.
        } finally {
          end();
        }
      })();
      try {
        send(a, { case: "attached", value: { attachment: a.id, freshMs } });
        while (!a.closed) {
          const next = a.queue.shift();
          if (next) {
            yield next;
            continue;
          }
          await new Promise<void>((r) => (a.wake = r));
          a.wake = undefined;
        }
      } finally {
        signal.removeEventListener("abort", end);
        end();
      }
    },
    close() {
      for (const a of [...attachments.values()]) detach(a);
    },
  };
}
