import { create } from "@bufbuild/protobuf";
import { AttachGatewayRequestSchema, type AttachGatewayRequest } from "@hsu/proto";
import { describe, expect, it } from "vitest";
import { createGatewayGrants, GRANT_HEADERS, type GrantTargets } from "./gateway-grants.ts";

/** A request stream the test writes to. */
function requests() {
  const queue: AttachGatewayRequest[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  return {
    push(kind: AttachGatewayRequest["kind"]) {
      queue.push(create(AttachGatewayRequestSchema, { kind }));
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const m = queue.shift();
        if (m) yield m;
        else if (ended) return;
        else await new Promise<void>((r) => (wake = r));
      }
    },
  };
}

type Sent = { epoch: bigint; sentAtMonotonicMs: bigint; kind: { case?: string; value?: unknown } };

function harness(over: Partial<GrantTargets> = {}, opts: { freshMs?: number; withdrawMs?: number } = {}) {
  const holds: Array<{ unit: string; released: boolean; leave: () => void }> = [];
  const targets: GrantTargets = {
    quietMs: (unit) => (unit.startsWith("pool") ? undefined : 500),
    hold: async (unit, onLeaving) => {
      const h = { unit, released: false, leave: onLeaving };
      holds.push(h);
      return { address: `unix:/run/${unit}.sock`, release: () => (h.released = true) };
    },
    isGateway: (unit, pid) => unit === "gateway" && pid === 42,
    ...over,
  };
  const log: string[] = [];
  const grants = createGatewayGrants({ targets, freshMs: opts.freshMs ?? 300, withdrawMs: opts.withdrawMs ?? 200, log: (l) => log.push(l) });
  return { grants, holds, log };
}

/** Attaches a gateway; `sent` collects what the master sends it. */
async function attach(grants: ReturnType<typeof harness>["grants"], hello = { unit: "gateway", pid: 42 }) {
  const req = requests();
  const controller = new AbortController();
  const sent: Sent[] = [];
  req.push({ case: "hello", value: create(AttachGatewayRequestSchema, { kind: { case: "hello", value: hello } }).kind.value as never });
  const it = grants.attach(req, controller.signal)[Symbol.asyncIterator]();
  const first = await it.next();
  sent.push(first.value as Sent);
  let ended = false;
  const pump = (async () => {
    for (;;) {
      const r = await it.next().catch(() => ({ done: true as const, value: undefined }));
      if (r.done) return void (ended = true);
      sent.push(r.value as Sent);
    }
  })();
  const attachment = (first.value as { kind: { value: { attachment: string } } }).kind.value.attachment;
  return { req, sent, attachment, controller, pump, ended: () => ended };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** `p`, or a failure naming what did not happen within `ms` (a deadline, not a measurement). */
const within = <T>(ms: number, what: string, p: Promise<T>): Promise<T> =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms))]);

describe("direct grants (the master's side)", () => {
  it("refuses a hello that is not a running gateway unit of this master", async () => {
    const { grants } = harness();
    await expect(attach(grants, { unit: "gateway", pid: 7 })).rejects.toThrow(/running gateway unit of this master; "gateway" with pid 7/);
    await expect(attach(grants, { unit: "echo", pid: 42 })).rejects.toThrow(/"echo" with pid 42 is not one/);
  });

  it("offers nothing before the unit is held, then a grant with the hold's address, the epoch and a ttl capped by the credential", async () => {
    const { grants, holds } = harness();
    const g = await attach(grants);
    expect(grants.offer(g.attachment, "echo", grants.epoch, undefined)).toBeUndefined();
    await tick();
    expect(holds).toHaveLength(1);
    const h = grants.offer(g.attachment, "echo", grants.epoch, undefined)!;
    expect(h[GRANT_HEADERS.address]).toBe("unix:/run/echo.sock");
    expect(h[GRANT_HEADERS.epoch]).toBe(String(grants.epoch));
    expect(Number(h[GRANT_HEADERS.ttl])).toBe(30_000);
    expect(h[GRANT_HEADERS.quiet]).toBe("500");
    expect(Number(grants.offer(g.attachment, "echo", grants.epoch, Date.now() + 5000)![GRANT_HEADERS.ttl])).toBeLessThanOrEqual(5000);
    // An expired credential, a call admitted in an older epoch, an unknown channel, a pool: nothing.
    expect(grants.offer(g.attachment, "echo", grants.epoch, Date.now() - 1)).toBeUndefined();
    expect(grants.offer(g.attachment, "echo", grants.epoch - 1, undefined)).toBeUndefined();
    expect(grants.offer("made-up", "echo", grants.epoch, undefined)).toBeUndefined();
    expect(grants.offer(undefined, "echo", grants.epoch, undefined)).toBeUndefined();
    expect(grants.offer(g.attachment, "pool", grants.epoch, undefined)).toBeUndefined();
    await tick();
    expect(holds).toHaveLength(1);
    grants.close();
  });

  it("a new epoch is answered once the gateway acknowledged it; a call admitted before it gets no grant", async () => {
    const { grants } = harness({}, { freshMs: 5000 });
    const g = await attach(grants);
    grants.offer(g.attachment, "echo", grants.epoch, undefined);
    await tick();
    const admitted = grants.epoch;
    let done = false;
    const p = grants.invalidate("RevokeToken").then(() => (done = true));
    await tick(50);
    expect(done).toBe(false);
    const last = g.sent.at(-1)!;
    expect(Number(last.epoch)).toBe(admitted + 1);
    expect(grants.offer(g.attachment, "echo", admitted, undefined)).toBeUndefined();
    g.req.push({ case: "ackEpoch", value: last.epoch });
    await p;
    expect(done).toBe(true);
    grants.close();
  });

  it("a gateway that never acknowledges holds a change up only until what it heard before went stale", async () => {
    const { grants, log } = harness({}, { freshMs: 300 });
    const g = await attach(grants);
    grants.offer(g.attachment, "echo", grants.epoch, undefined);
    await tick(20);
    // Bounded by freshness (300 ms after the last message before the change); the deadline leaves room for a slow machine.
    await within(5000, "the change being answered", grants.invalidate("RevokeToken"));
    expect(log.join("\n")).toMatch(/did not acknowledge a new grant epoch \(RevokeToken\) before its grants went stale/);
    grants.close();
  });

  it("a gateway that heard nothing for longer than freshness does not hold a change up at all", async () => {
    const { grants } = harness({}, { freshMs: 100 });
    await attach(grants);
    await tick(150);
    await within(5000, "the change being answered", grants.invalidate("Apply"));
    grants.close();
  });

  it("withdraws a unit whose process leaves, releases the hold on `released` or after withdrawMs at most", async () => {
    const { grants, holds } = harness({}, { withdrawMs: 150 });
    const g = await attach(grants);
    grants.offer(g.attachment, "echo", grants.epoch, undefined);
    grants.offer(g.attachment, "other", grants.epoch, undefined);
    await tick();
    holds[0]!.leave();
    await tick();
    expect(g.sent.some((m) => m.kind.case === "withdraw" && m.kind.value === "echo")).toBe(true);
    expect(grants.offer(g.attachment, "echo", grants.epoch, undefined)).toBeUndefined();
    g.req.push({ case: "released", value: "echo" });
    await tick(10);
    expect(holds[0]!.released).toBe(true);
    // The gateway never answers for "other": released anyway.
    holds[1]!.leave();
    await tick(300);
    expect(holds[1]!.released).toBe(true);
    grants.close();
  });

  it("sends heartbeats while it holds a route, and releases every hold when the channel ends", async () => {
    const { grants, holds } = harness({}, { freshMs: 150 });
    const g = await attach(grants);
    grants.offer(g.attachment, "echo", grants.epoch, undefined);
    await tick(400);
    const beats = g.sent.filter((m) => m.kind.case === undefined).length;
    expect(beats).toBeGreaterThanOrEqual(2);
    g.req.end();
    await g.pump;
    expect(g.ended()).toBe(true);
    expect(holds[0]!.released).toBe(true);
    expect(grants.offer(g.attachment, "echo", grants.epoch, undefined)).toBeUndefined();
    grants.close();
  });
});
