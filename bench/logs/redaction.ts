// What secret redaction costs the log collector: the same 200k lines (80 bytes,
// 1% holding a secret) through createLogCollector with no redactor and with 1,
// 10, 100 and 1000 known values, side by side in one run; best of 3 each.
//
//   node --conditions=@hsu/source bench/logs/redaction.ts [lines=200000]
import { createLogCollector, createRedactor } from "@hsu/client";
import { PassThrough } from "node:stream";

const lines = Number(process.argv[2] ?? 200_000);
const secret = (i: number) => `tok-${i.toString(36)}-${"s".repeat(20)}`;
const chunks: Buffer[] = [];
let batch = "";
for (let i = 0; i < lines; i++) {
  batch += i % 100 === 0 ? `line ${i} token=${secret(0)} rest of the line ${"x".repeat(20)}\n` : `line ${i} ordinary output of a unit doing its work ${"y".repeat(24)}\n`;
  if (batch.length > 60_000) (chunks.push(Buffer.from(batch)), (batch = ""));
}
if (batch) chunks.push(Buffer.from(batch));

async function once(values: number | undefined): Promise<number> {
  const redactor = values === undefined ? undefined : createRedactor();
  for (let i = 0; i < (values ?? 0); i++) redactor!.add(secret(i));
  const logs = createLogCollector({ tailLines: 1000, ...(redactor ? { redactor } : {}) });
  const source = new PassThrough({ highWaterMark: 1 << 20 });
  const start = process.hrtime.bigint();
  const done = logs.attach("u", "stdout", source);
  for (const c of chunks) source.write(c);
  source.end();
  await done;
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (redactor && !logs.tail("u").some((l) => l.text.includes("[redacted]"))) throw new Error("nothing was redacted");
  await logs.close();
  return ms;
}

const cases: (number | undefined)[] = [undefined, 1, 10, 100, 1000];
const best = new Map<string, number>();
for (let round = 0; round < 3; round++) {
  for (const c of cases) {
    const ms = await once(c);
    const key = c === undefined ? "no redactor" : `${c} values`;
    best.set(key, Math.min(best.get(key) ?? Infinity, ms));
  }
}
const floor = best.get("no redactor")!;
console.log(`${lines} lines, best of 3`);
for (const [k, ms] of best) console.log(`${k.padEnd(12)} ${ms.toFixed(0).padStart(6)} ms  ${((lines / ms) * 1000 / 1e6).toFixed(2)} M lines/s  x${(ms / floor).toFixed(2)}`);
