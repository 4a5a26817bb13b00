import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createLogCollector } from "./collector.ts";
import { parseLogRecord } from "./format.ts";
import { killAll, spawnNode } from "./test-support/child.ts";
import type { LogCollector } from "./types.ts";

let dir: string;
let collector: LogCollector | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hsu-logs-slow-"));
});

afterEach(async () => {
  await killAll();
  await collector?.close();
  await rm(dir, { recursive: true, force: true });
});

it("1,000,000 lines from a child that then SIGKILLs itself arrive complete and in order", async () => {
  const n = 1_000_000;
  collector = createLogCollector({ dir, maxFileBytes: 8 * 1024 * 1024, maxFiles: 20, tailLines: 1000 });
  const sub = collector.subscribe({ units: ["flood"] });
  // fs.writeSync so every batch is in the pipe before the kill (process.stdout
  // on a pipe is asynchronous); EAGAIN means the pipe is full: try again.
  const child = spawnNode(`
    const fs = require("node:fs");
    let batch = [];
    for (let i = 1; i <= ${n}; i++) {
      batch.push("line " + i);
      if (batch.length === 1000) {
        const buf = Buffer.from(batch.join("\\n") + "\\n");
        for (let off = 0; off < buf.length; ) {
          try { off += fs.writeSync(1, buf, off); } catch (e) { if (e.code !== "EAGAIN") throw e; }
        }
        batch = [];
      }
    }
    process.kill(process.pid, "SIGKILL");`);
  const exit = once(child, "exit");
  const attached = collector.attach("flood", "stdout", child.stdout!);

  const consumed = (async () => {
    let expected = 1;
    for await (const line of sub) {
      if (line.seq !== expected || line.text !== `line ${expected}`) {
        throw new Error(`subscriber: expected seq/line ${expected}, got ${line.seq} ${JSON.stringify(line.text)}`);
      }
      if (expected++ === n) break;
    }
    return expected - 1;
  })();
  await attached;
  expect((await exit)[1]).toBe("SIGKILL");
  await collector.flush();
  expect(await readAll()).toBe(n);
  const tail = collector.tail("flood");
  expect(tail.length).toBe(1000);
  tail.forEach((l, i) => expect(l).toMatchObject({ seq: n - 999 + i, text: `line ${n - 999 + i}`, stream: "stdout" }));

  // Every line was queued for the subscriber when attach resolved; close() ends
  // the subscription after its queue, so a short count fails here instead of hanging.
  await collector.close();
  expect(await consumed).toBe(n);
});

/** Reads flood.log.<k> .. flood.log.1, flood.log and checks every record is the next line; returns the count. */
async function readAll(): Promise<number> {
  const rotated = (await readdir(dir)).filter((f) => f.startsWith("flood.log.")).map((f) => Number(f.split(".").pop()));
  const files = [...rotated.sort((a, b) => b - a).map((i) => `flood.log.${i}`), "flood.log"];
  let next = 1;
  for (const file of files) {
    const text = await readFile(join(dir, file), "utf8");
    let start = 0;
    while (start < text.length) {
      const end = text.indexOf("\n", start);
      const rec = parseLogRecord(text.slice(start, end));
      if (rec?.text !== `line ${next}`) throw new Error(`${file}: expected line ${next}, got ${text.slice(start, end)}`);
      next++;
      start = end + 1;
    }
  }
  return next - 1;
}
