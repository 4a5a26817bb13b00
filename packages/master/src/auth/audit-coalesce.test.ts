// Refusal coalescing on a real audit file, with a fake clock: a flood of refusals costs a bounded
// number of lines, the summaries count exactly what was not written one by one, and the chain verifies.
import { createFakeClock } from "@hsu/client";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openAuditLog, verifyAudit, type AuditEntry, type AuditRecord } from "./audit.ts";
import { coalesceRefusals, refusalSource } from "./audit-coalesce.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(options: { burst?: number; windowMs?: number; maxSources?: number } = {}) {
  const d = mkdtempSync(join(tmpdir(), "hsu-coalesce-"));
  dirs.push(d);
  const file = join(d, "audit.log");
  const clock = createFakeClock(1_700_000_000_000);
  const log = coalesceRefusals(await openAuditLog(file), { clock, ...options });
  const text = () => readFileSync(file, "utf8");
  const entries = () => text().split("\n").filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
  return { file, clock, log, text, entries };
}

const denied = (from: string, reason = "the bearer token is not valid", extra: Partial<AuditRecord> = {}): AuditRecord => ({
  time: 1_700_000_000_000,
  who: { kind: "anonymous", subject: "" },
  method: "hsu.master.v1.ControlService/ListUnits",
  units: [],
  from,
  result: "denied",
  code: "unauthenticated",
  reason,
  ...extra,
});
const ok = (i: number): AuditRecord => ({ ...denied("127.0.0.1:9"), method: "hsu.master.v1.ControlService/RestartUnit", units: [`u${i}`], result: "ok", code: "ok", reason: undefined } as AuditRecord);

/** Refusals the log accounts for: each one written alone counts 1, a summary its `count`. */
const accounted = (es: AuditEntry[]) => es.filter((e) => e.result === "denied").reduce((n, e) => n + (e.count ?? 1), 0);

describe("coalesceRefusals", () => {
  it("writes the first burst of one source's refusals, then one summary when the window ends, counting the rest exactly", async () => {
    const { clock, log, entries, text } = await setup({ burst: 10, windowMs: 60_000 });
    // Every call on a new connection: the port differs, the source (the host) does not.
    for (let i = 0; i < 1000; i++) await log.append(denied(`127.0.0.1:${40_000 + i}`));
    expect(entries()).toHaveLength(10);
    clock.advance(60_000);
    await log.close();
    const es = entries();
    expect(es).toHaveLength(11);
    expect(es.at(-1)).toMatchObject({ result: "denied", code: "unauthenticated", from: "127.0.0.1", count: 990, reason: expect.stringMatching(/^990 more refusals like this from 127\.0\.0\.1 in 60s: the bearer token is not valid$/) });
    expect(accounted(es)).toBe(1000);
    expect(verifyAudit(text())).toEqual({ ok: true, entries: 11 });
  });

  it("starts a new window after one ends, and writes the pending summary at close", async () => {
    const { clock, log, entries, text } = await setup({ burst: 2, windowMs: 1000 });
    for (let i = 0; i < 5; i++) await log.append(denied("10.0.0.1:1"));
    clock.advance(1000);
    for (let i = 0; i < 4; i++) await log.append(denied("10.0.0.1:1"));
    clock.advance(500);
    await log.close();
    const es = entries();
    expect(es.map((e) => e.count ?? 1)).toEqual([1, 1, 3, 1, 1, 2]);
    expect(es.at(-1)!.reason).toMatch(/^2 more refusals like this from 10\.0\.0\.1 in 0\.5s: /);
    expect(accounted(es)).toBe(9);
    expect(verifyAudit(text()).ok).toBe(true);
  });

  it("never coalesces or drops calls that succeeded, even amid a flood of refusals", async () => {
    const { log, entries } = await setup({ burst: 1 });
    for (let i = 0; i < 200; i++) {
      await log.append(denied("127.0.0.1:1"));
      await log.append(ok(i));
    }
    await log.close();
    const es = entries();
    expect(es.filter((e) => e.result === "ok").map((e) => e.units[0])).toEqual(Array.from({ length: 200 }, (_, i) => `u${i}`));
    expect(accounted(es)).toBe(200);
  });

  it("keeps one source's reasons and principals apart, and gateway clients apart by their address", async () => {
    const { log, entries } = await setup({ burst: 1 });
    for (let i = 0; i < 3; i++) {
      await log.append(denied("127.0.0.1:1", "reason a"));
      await log.append(denied("127.0.0.1:2", "reason b"));
      await log.append(denied("unix", "reason a", { via: "gateway 10.0.0.7" }));
      await log.append(denied("unix", "reason a", { via: "gateway 10.0.0.8" }));
      await log.append(denied("127.0.0.1:1", "reason a", { who: { kind: "api-token", subject: "t1" }, code: "permission_denied" }));
    }
    await log.close();
    const es = entries();
    expect(es.filter((e) => e.count === undefined)).toHaveLength(5);
    expect(es.filter((e) => e.count === 2)).toHaveLength(5);
    expect(es.filter((e) => e.via === "gateway 10.0.0.7").map((e) => e.count ?? 1)).toEqual([1, 2]);
  });

  it("bounds memory and lines with many distinct sources: past maxSources they share one bucket", async () => {
    const { clock, log, entries, text } = await setup({ burst: 3, windowMs: 60_000, maxSources: 50 });
    for (let i = 0; i < 5000; i++) await log.append(denied(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:1`));
    expect(log.tracked()).toBeLessThanOrEqual(51);
    clock.advance(60_000);
    expect(log.tracked()).toBe(0);
    await log.close();
    const es = entries();
    // 50 sources of one refusal each, then one bucket for the other 4950: 3 written, 1 summary.
    expect(es.length).toBeLessThanOrEqual(51 * (3 + 1));
    expect(es.at(-1)).toMatchObject({ from: "*", count: 4947, reason: expect.stringContaining("from other sources (more than 50 at once)") });
    expect(accounted(es)).toBe(5000);
    expect(verifyAudit(text()).ok).toBe(true);
  });

  it("names the source of a TCP peer by its host, an IPv6 one too", () => {
    expect(refusalSource(denied("127.0.0.1:5000"))).toBe("127.0.0.1");
    expect(refusalSource(denied("::1:5000"))).toBe("::1");
    expect(refusalSource(denied("unix"))).toBe("unix");
    expect(refusalSource(denied("unix", "r", { via: "gateway 10.1.2.3" }))).toBe("gateway 10.1.2.3");
  });
});
