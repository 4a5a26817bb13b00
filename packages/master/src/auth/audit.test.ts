import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { entryHash, GENESIS, openAuditLog, verifyAudit, type AuditRecord } from "./audit.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const logFile = () => {
  const d = mkdtempSync(join(tmpdir(), "hsu-audit-"));
  dirs.push(d);
  return join(d, "state", "audit.log");
};
const rec = (i: number, result: AuditRecord["result"] = "ok"): AuditRecord => ({
  time: 1_700_000_000_000 + i,
  who: { kind: "api-token", subject: "ab12cd34" },
  method: "hsu.master.v1.ControlService/RestartUnit",
  units: [`u${i}`],
  from: "127.0.0.1:5000",
  result,
  code: result === "ok" ? "ok" : "permission_denied",
  ...(result === "ok" ? {} : { reason: "no" }),
});

/** A log of n entries written through openAuditLog; its lines. */
async function written(n: number): Promise<{ file: string; lines: string[] }> {
  const file = logFile();
  const log = await openAuditLog(file);
  for (let i = 1; i <= n; i++) await log.append(rec(i, i % 2 ? "ok" : "denied"));
  await log.close();
  return { file, lines: readFileSync(file, "utf8").split("\n").slice(0, -1) };
}
const text = (lines: string[]) => lines.map((l) => `${l}\n`).join("");

describe("the audit log", () => {
  it("chains each entry to the one before, the first to the genesis value; 0600", async () => {
    const { file, lines } = await written(3);
    const entries = lines.map((l) => JSON.parse(l));
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(entries[0].prev).toBe(GENESIS);
    expect(entries[1].prev).toBe(entries[0].hash);
    expect(entries[2].prev).toBe(entries[1].hash);
    const { hash, ...body } = entries[2];
    expect(entryHash(body)).toBe(hash);
    expect(entries[1]).toMatchObject({ who: { kind: "api-token", subject: "ab12cd34" }, result: "denied", code: "permission_denied", reason: "no", units: ["u2"] });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(verifyAudit(readFileSync(file, "utf8"))).toEqual({ ok: true, entries: 3 });
  });

  it("a reopened log (a restarted master) continues the chain", async () => {
    const { file } = await written(2);
    const log = await openAuditLog(file);
    const e = await log.append(rec(3));
    await log.close();
    expect(e.seq).toBe(3);
    expect(verifyAudit(readFileSync(file, "utf8"))).toEqual({ ok: true, entries: 3 });
  });

  it("appends made together land in call order, each line whole", async () => {
    const file = logFile();
    const log = await openAuditLog(file);
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(rec(i + 1))));
    await log.close();
    expect(verifyAudit(readFileSync(file, "utf8"))).toEqual({ ok: true, entries: 50 });
  });

  it("an empty log verifies", () => expect(verifyAudit("")).toEqual({ ok: true, entries: 0 }));
});

describe("verify finds tampering (hostile edits)", () => {
  it("one field changed: that line, as edited", async () => {
    const { lines } = await written(5);
    lines[2] = lines[2]!.replace('"u3"', '"db"');
    expect(verifyAudit(text(lines))).toEqual({ ok: false, line: 3, reason: "entry 3 does not match its hash: it was edited", entries: 2 });
  });

  it("a field changed and the hash recomputed: the next line no longer chains", async () => {
    const { lines } = await written(5);
    const e = JSON.parse(lines[1]!);
    e.result = "ok";
    const { hash: _h, ...body } = e;
    lines[1] = JSON.stringify({ ...body, hash: entryHash(body) });
    expect(verifyAudit(text(lines))).toMatchObject({ ok: false, line: 3, reason: expect.stringContaining("not chained to the line before it") });
  });

  it("a line deleted: the one after it, naming how many", async () => {
    const { lines } = await written(5);
    lines.splice(1, 1);
    expect(verifyAudit(text(lines))).toEqual({ ok: false, line: 2, reason: "entry 3 follows entry 1: 1 entry was deleted before it", entries: 1 });
  });

  it("the first line deleted: line 1 is not chained to the genesis value", async () => {
    const { lines } = await written(3);
    lines.shift();
    expect(verifyAudit(text(lines))).toMatchObject({ ok: false, line: 1, reason: expect.stringContaining("deleted") });
  });

  it("two lines swapped: reported as reordered or deleted at the first of them", async () => {
    const { lines } = await written(5);
    [lines[1], lines[2]] = [lines[2]!, lines[1]!];
    expect(verifyAudit(text(lines))).toMatchObject({ ok: false, line: 2 });
    const swappedAtEnd = (await written(4)).lines;
    [swappedAtEnd[2], swappedAtEnd[3]] = [swappedAtEnd[3]!, swappedAtEnd[2]!];
    const v = verifyAudit(text(swappedAtEnd));
    expect(v).toMatchObject({ ok: false, line: 3 });
  });

  it("a line moved back: reordered", async () => {
    const { lines } = await written(4);
    const moved = lines.splice(3, 1)[0]!;
    lines.splice(1, 0, moved);
    // Line 2 is entry 4 after entry 1 (a jump), so the first bad line is 2.
    expect(verifyAudit(text(lines))).toMatchObject({ ok: false, line: 2 });
    const again = (await written(4)).lines;
    again.push(again[1]!);
    expect(verifyAudit(text(again))).toEqual({ ok: false, line: 5, reason: "entry 2 follows entry 4: lines were reordered", entries: 4 });
  });

  it("garbage appended: that line, not JSON", async () => {
    const { file } = await written(3);
    appendFileSync(file, "hello\n");
    expect(verifyAudit(readFileSync(file, "utf8"))).toEqual({ ok: false, line: 4, reason: "not a JSON entry (edited, or garbage appended)", entries: 3 });
    writeFileSync(file, `${readFileSync(file, "utf8").replace("hello\n", "")}{"seq":4}\n`);
    expect(verifyAudit(readFileSync(file, "utf8"))).toMatchObject({ ok: false, line: 4, reason: "not an audit entry (no seq or hash)" });
  });

  it("the last line truncated mid-line: that line", async () => {
    const { file } = await written(3);
    const all = readFileSync(file, "utf8");
    writeFileSync(file, all.slice(0, all.length - 20));
    const truncated = { ok: false, line: 3, reason: "truncated mid-line (no newline at the end): the last entry is incomplete", entries: 2 };
    expect(verifyAudit(readFileSync(file, "utf8"))).toEqual(truncated);
    // Only the newline missing: still a write that did not finish.
    writeFileSync(file, all.slice(0, -1));
    expect(verifyAudit(readFileSync(file, "utf8"))).toEqual(truncated);
  });

  it("a log reopened after a torn last line goes on from the last whole entry on a new line", async () => {
    const { file } = await written(3);
    const all = readFileSync(file, "utf8");
    writeFileSync(file, all.slice(0, all.length - 20));
    const log = await openAuditLog(file);
    const e = await log.append(rec(4));
    await log.close();
    expect(e.seq).toBe(3);
    const lines = readFileSync(file, "utf8").split("\n");
    expect(lines).toHaveLength(5);
    expect(verifyAudit(readFileSync(file, "utf8"))).toMatchObject({ ok: false, line: 3 });
  });
});
