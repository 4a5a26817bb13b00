import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { once } from "node:events";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { PassThrough, Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HsuError } from "../errors.ts";
import { createLogCollector } from "./collector.ts";
import { parseLogRecord } from "./format.ts";
import { killAll, spawnNode, until } from "./test-support/child.ts";
import type { LogCollector, LogLine } from "./types.ts";

let dir: string;
let collector: LogCollector | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hsu-logs-"));
});

afterEach(async () => {
  await killAll();
  await collector?.close();
  collector = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** Writes `line <i>` for i in 1..n in batches, from a real child. */
const countScript = (n: number, stream = "stdout", pad = 0) => `
  const out = process.${stream};
  const pad = "x".repeat(${pad});
  let batch = [];
  for (let i = 1; i <= ${n}; i++) {
    batch.push("line " + i + pad);
    if (batch.length === 500 || i === ${n}) { out.write(batch.join("\\n") + "\\n"); batch = []; }
  }`;

async function readRecords(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8");
  expect(text.endsWith("\n")).toBe(true);
  return text.slice(0, -1).split("\n");
}

function expectConsecutive(texts: string[], first: number, last: number): void {
  expect(texts.length).toBe(last - first + 1);
  texts.forEach((t, i) => {
    if (!t.startsWith(`line ${first + i}`)) throw new Error(`expected line ${first + i}, got ${JSON.stringify(t.slice(0, 40))} at index ${i}`);
  });
}

describe("log collector with real child processes", () => {
  it("emits a partial last line, CRLF lines and multi-byte text split across writes", async () => {
    let tick = Date.parse("2026-11-26T11:22:33.000Z");
    collector = createLogCollector({ dir, now: () => tick++ });
    const child = spawnNode(`
      const e = Buffer.from("€");
      process.stdout.write("crlf one\\r\\ncrlf two\\r\\n");
      process.stdout.write(Buffer.concat([Buffer.from("euro "), e.subarray(0, 1)]));
      setTimeout(() => {
        process.stdout.write(Buffer.concat([e.subarray(1), Buffer.from(" end\\nno newline")]));
      }, 20);`);
    await collector.attach("u1", "stdout", child.stdout!);
    const texts = collector.tail("u1").map((l) => l.text);
    expect(texts).toEqual(["crlf one", "crlf two", "euro € end", "no newline"]);
    const records = (await readRecords(join(dir, "u1.log"))).map((r) => parseLogRecord(r));
    expect(records.map((r) => r?.text)).toEqual(texts);
    expect(records.every((r) => r?.stream === "stdout" && r.partial === false)).toBe(true);
    expect(collector.tail("u1").map((l) => [l.seq, l.time])).toEqual([1, 2, 3, 4].map((i) => [i, Date.parse("2026-11-26T11:22:33.000Z") + i - 1]));
    expect((await readFile(join(dir, "u1.log"), "utf8")).split("\n")[0]).toBe("2026-11-26T11:22:33.000Z stdout | crlf one");
  });

  it("cuts a 1 MiB line into partial pieces and loses nothing", async () => {
    collector = createLogCollector({ dir, maxLineBytes: 64 * 1024 });
    const child = spawnNode(`process.stdout.write("é".repeat(512 * 1024) + "\\nafter\\n")`);
    await collector.attach("big", "stdout", child.stdout!);
    const lines = collector.tail("big");
    const pieces = lines.slice(0, -1);
    // 1 MiB of 2-byte characters in 64 KiB pieces: 15 partial ones and a final one.
    expect(pieces.length).toBe(16);
    expect(pieces.map((l) => l.text).join("")).toBe("é".repeat(512 * 1024));
    expect(pieces.slice(0, -1).every((l) => l.partial)).toBe(true);
    expect(pieces.at(-1)?.partial).toBe(false);
    expect(pieces.every((l) => Buffer.byteLength(l.text) <= 64 * 1024)).toBe(true);
    expect(lines.at(-1)).toMatchObject({ text: "after", partial: false });
    const records = (await readRecords(join(dir, "big.log"))).map((r) => parseLogRecord(r)!);
    expect(records.filter((r) => r.partial).length).toBe(pieces.length - 1);
    expect(records.slice(0, -1).map((r) => r.text).join("")).toBe("é".repeat(512 * 1024));
  });

  it("keeps stdout and stderr apart and orders both with one seq", async () => {
    collector = createLogCollector({ dir });
    const child = spawnNode(`
      const fs = require("node:fs");
      for (let i = 1; i <= 200; i++) fs.writeSync(i % 2 ? 1 : 2, (i % 2 ? "out " : "err ") + i + "\\n");`);
    await Promise.all([collector.attach("mix", "stdout", child.stdout!), collector.attach("mix", "stderr", child.stderr!)]);
    const lines = collector.tail("mix");
    expect(lines.length).toBe(200);
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    for (const l of lines) expect(l.text.startsWith(l.stream === "stdout" ? "out " : "err ")).toBe(true);
    const outs = lines.filter((l) => l.stream === "stdout").map((l) => Number(l.text.slice(4)));
    const errs = lines.filter((l) => l.stream === "stderr").map((l) => Number(l.text.slice(4)));
    expect(outs).toEqual(Array.from({ length: 100 }, (_, i) => 2 * i + 1));
    expect(errs).toEqual(Array.from({ length: 100 }, (_, i) => 2 * i + 2));
    const records = (await readRecords(join(dir, "mix.log"))).map((r) => parseLogRecord(r)!);
    expect(records.map((r) => `${r.stream}:${r.text}`)).toEqual(lines.map((l) => `${l.stream}:${l.text}`));
  });

  it("rotates into exactly maxFiles files that hold the newest lines with none lost", async () => {
    const n = 20_000;
    collector = createLogCollector({ dir, maxFileBytes: 64 * 1024, maxFiles: 3 });
    const child = spawnNode(countScript(n));
    await collector.attach("rot", "stdout", child.stdout!);
    await collector.close();
    const names = (await readdir(dir)).sort();
    expect(names).toEqual(["rot.log", "rot.log.1", "rot.log.2", "rot.log.3"]);
    const texts: string[] = [];
    for (const name of ["rot.log.3", "rot.log.2", "rot.log.1", "rot.log"]) {
      expect((await stat(join(dir, name))).size).toBeLessThanOrEqual(64 * 1024);
      texts.push(...(await readRecords(join(dir, name))).map((r) => parseLogRecord(r)!.text));
    }
    const first = Number(texts[0]!.slice(5));
    expect(first).toBeGreaterThan(1);
    expectConsecutive(texts, first, n);
    // Full files: the three rotated ones hold more than 2 full files' worth.
    expect(texts.length).toBeGreaterThan((3 * 64 * 1024) / 40);
  });

  it("a slow subscriber pauses the child and still gets every line", async () => {
    const n = 50_000;
    collector = createLogCollector({ subscriberHighWaterMark: 1000 });
    const sub = collector.subscribe({ units: ["slow"] });
    const child = spawnNode(countScript(n, "stdout", 60));
    let exited = false;
    child.once("exit", () => (exited = true));
    const attached = collector.attach("slow", "stdout", child.stdout!);
    let pausedWhileChildRan = false;
    const got: LogLine[] = [];
    for await (const line of sub) {
      got.push(line);
      if (collector.stats().pausedSources > 0 && !exited) pausedWhileChildRan = true;
      // A slow consumer: one line per macrotask turn.
      await new Promise((r) => setImmediate(r));
      if (got.length === n) break;
    }
    await attached;
    expect(pausedWhileChildRan).toBe(true);
    expect(collector.stats().pauses).toBeGreaterThan(0);
    expect(got.map((l) => l.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expectConsecutive(got.map((l) => l.text), 1, n);
  });

  it("pauses the source while its log file is behind and writes every line", async () => {
    const n = 20_000;
    collector = createLogCollector({ dir, fileHighWaterBytes: 4096, maxFileBytes: 1024 * 1024 });
    const child = spawnNode(countScript(n));
    await collector.attach("disk", "stdout", child.stdout!);
    expect(collector.stats().pauses).toBeGreaterThan(0);
    await collector.flush();
    expectConsecutive((await readRecords(join(dir, "disk.log"))).map((r) => parseLogRecord(r)!.text), 1, n);
  });

  it("a subscriber that breaks out releases the pause", async () => {
    collector = createLogCollector({ subscriberHighWaterMark: 100 });
    const sub = collector.subscribe();
    const child = spawnNode(countScript(100_000));
    const attached = collector.attach("brk", "stdout", child.stdout!);
    await until(() => collector!.stats().pausedSources === 1, "the source to pause");
    let read = 0;
    for await (const _ of sub) if (++read === 5) break;
    await attached;
    expect(collector.stats()).toMatchObject({ pausedSources: 0, subscribers: 0, attachedSources: 0 });
    expect(collector.tail("brk", 1)[0]?.text).toBe("line 100000");
  });

  it("a disconnect-mode subscriber gets its queue, then an error counting the missed lines", async () => {
    collector = createLogCollector();
    const sub = collector.subscribe({ overflow: "disconnect", highWaterMark: 50 });
    const child = spawnNode(countScript(1000));
    await collector.attach("dc", "stdout", child.stdout!);
    expect(collector.stats().pauses).toBe(0);
    const got: string[] = [];
    let error: unknown;
    try {
      for await (const line of sub) got.push(line.text);
    } catch (err) {
      error = err;
    }
    expect(HsuError.is(error, "resource_exhausted")).toBe(true);
    const missed = Number(/missed (\d+) line/.exec((error as Error).message)?.[1]);
    expect(got.length).toBeGreaterThanOrEqual(50);
    expect(got.length + missed).toBe(1000);
    expectConsecutive(got, 1, got.length);
  });

  it("filters by unit and stream, replays the tail, and ends subscriptions on close", async () => {
    collector = createLogCollector({ tailLines: 10 });
    const a = spawnNode(`console.log("a1"); console.error("a-err"); console.log("a2")`);
    await Promise.all([collector.attach("a", "stdout", a.stdout!), collector.attach("a", "stderr", a.stderr!)]);
    const sub = collector.subscribe({ units: ["a", "b"], streams: ["stdout"], fromTail: 1 });
    const b = spawnNode(`console.log("b1"); console.error("b-err")`);
    const c = spawnNode(`console.log("c1")`);
    await Promise.all([
      collector.attach("b", "stdout", b.stdout!),
      collector.attach("b", "stderr", b.stderr!),
      collector.attach("c", "stdout", c.stdout!),
    ]);
    await collector.close();
    const got: string[] = [];
    for await (const line of sub) got.push(`${line.unit}:${line.text}`);
    expect(got).toEqual(["a:a2", "b:b1"]);
    await expect(collector.attach("a", "stdout", a.stdout!)).rejects.toThrow(/closed/);
  });

  it("resolves at once for a stream that already ended", async () => {
    collector = createLogCollector();
    const done = Readable.from([]);
    done.resume();
    await once(done, "end");
    await collector.attach("late", "stderr", done);
    expect(collector.stats().attachedSources).toBe(0);
  });

  it("makes a failing log file loud: attach and flush reject naming the file", async () => {
    const notADir = join(dir, "file");
    await writeFile(notADir, "");
    collector = createLogCollector({ dir: notADir });
    const child = spawnNode(`console.log("x")`);
    const err = await collector.attach("w", "stdout", child.stdout!).catch((e: unknown) => e);
    expect(HsuError.is(err, "internal")).toBe(true);
    expect((err as Error).message).toMatch(/writing log file .*w\.log failed/);
    expect(collector.tail("w").map((l) => l.text)).toEqual(["x"]);
  });

  it("rejects unit ids that cannot name a file", async () => {
    collector = createLogCollector({ dir });
    const child = spawnNode(`console.log("x")`);
    await expect(collector.attach("../evil", "stdout", child.stdout!)).rejects.toThrow(/cannot name a log file/);
  });
});

describe("log collector: acknowledging written source bytes (onWritten)", () => {
  const records = async (unit: string) => (await readFile(join(dir, `${unit}.log`), "utf8")).split("\n").filter((l) => l !== "").map((l) => parseLogRecord(l)!.text);

  it("acknowledges whole lines only, once they are in the file, counted in source bytes", async () => {
    collector = createLogCollector({ dir });
    const source = new PassThrough();
    const acks: { bytes: number; inFile: string[] }[] = [];
    const done = collector.attach("u", "stdout", source, { onWritten: (bytes) => acks.push({ bytes, inFile: readFileSync(join(dir, "u.log"), "utf8").split("\n").filter((l) => l).map((l) => parseLogRecord(l)!.text) }) });
    source.write("one\ntw");
    await until(() => acks.length === 1, "acknowledgement 1");
    source.write("o\r\nthr");
    await until(() => acks.length === 2, "acknowledgement 2");
    source.end("ee");
    await done;
    expect(acks).toEqual([
      { bytes: 4, inFile: ["one"] }, // "two" is not whole yet: not acknowledged
      { bytes: 9, inFile: ["one", "two"] }, // "\r\n" counts as source bytes
      { bytes: 14, inFile: ["one", "two", "three"] }, // the last line, without newline, at the end
    ]);
  });

  it("counts the pieces of an over-long line as they are written", async () => {
    collector = createLogCollector({ dir, maxLineBytes: 4 });
    const source = new PassThrough();
    const acks: number[] = [];
    const done = collector.attach("u", "stdout", source, { onWritten: (b) => acks.push(b) });
    source.write("abcdefghij");
    await until(() => acks.length === 1, "acknowledgement 1");
    expect(acks).toEqual([8]); // "abcd" and "efgh" are records of their own; "ij" may still grow
    source.end("\n");
    await done;
    expect(acks).toEqual([8, 11]);
    expect(await records("u")).toEqual(["abcd", "efgh", "ij"]);
  });

  it("keeps stdout and stderr apart while they share one file", async () => {
    collector = createLogCollector({ dir });
    const out = new PassThrough();
    const err = new PassThrough();
    const acked = { out: 0, err: 0 };
    const a = collector.attach("u", "stdout", out, { onWritten: (b) => (acked.out = b) });
    const b = collector.attach("u", "stderr", err, { onWritten: (n) => (acked.err = n) });
    for (let i = 0; i < 100; i++) {
      out.write(`o${i}\n`);
      err.write(`e${i}\n`);
    }
    out.end();
    err.end();
    await Promise.all([a, b]);
    expect(acked.out).toBe(Array.from({ length: 100 }, (_, i) => `o${i}\n`).join("").length);
    expect(acked.err).toBe(acked.out);
  });

  it("an acknowledged source cut off mid-line logs only its whole lines: the piece is left to be read again", async () => {
    collector = createLogCollector({ dir });
    const source = new PassThrough();
    const acks: number[] = [];
    const done = collector.attach("u", "stdout", source, { onWritten: (b) => acks.push(b) });
    source.write("whole\nhal");
    await until(() => acks.length === 1, "acknowledgement 1");
    source.destroy();
    await done;
    expect(acks).toEqual([6]);
    expect(await records("u")).toEqual(["whole"]);
  });

  it("without a log file, acknowledges once the lines are delivered", async () => {
    collector = createLogCollector();
    const acks: number[] = [];
    await collector.attach("u", "stdout", Readable.from([Buffer.from("a\nb\nc")]), { onWritten: (b) => acks.push(b) });
    expect(acks).toEqual([4, 5]);
    expect(collector.tail("u").map((l) => l.text)).toEqual(["a", "b", "c"]);
  });
});
