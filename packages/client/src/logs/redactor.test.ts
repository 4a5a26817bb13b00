import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createLogCollector } from "./collector.ts";
import { createRedactor, REDACTED } from "./redactor.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Feeds `chunks` through a collector with a log file and returns the tail texts and the file. */
async function capture(secrets: (string | Uint8Array)[], chunks: (string | Buffer)[], maxLineBytes?: number) {
  const dir = mkdtempSync(join(tmpdir(), "hsu-redact-"));
  dirs.push(dir);
  const redactor = createRedactor();
  for (const s of secrets) redactor.add(s);
  const logs = createLogCollector({ dir, redactor, ...(maxLineBytes ? { maxLineBytes } : {}) });
  const source = new PassThrough();
  const done = logs.attach("u", "stdout", source);
  for (const c of chunks) source.write(c);
  source.end();
  await done;
  await logs.close();
  return { lines: logs.tail("u").map((l) => l.text), file: readFileSync(join(dir, "u.log"), "utf8") };
}

describe("redaction of captured output", () => {
  it("replaces a value in the tail and the log file, keeping the rest of the line", async () => {
    const { lines, file } = await capture(["hunter2-pass"], ["user=bob password=hunter2-pass ok\n"]);
    expect(lines).toEqual([`user=bob password=${REDACTED} ok`]);
    expect(file).not.toContain("hunter2-pass");
    expect(file).toContain(REDACTED);
  });

  it("finds a value written in two chunks, split in the middle of it and of a UTF-8 character", async () => {
    const secret = "zwölf-geheim-✓-wort";
    const bytes = Buffer.from(`a ${secret} b\n`);
    const cutAt = bytes.indexOf(Buffer.from("✓")) + 1; // inside the three bytes of ✓
    const { lines } = await capture([secret], [bytes.subarray(0, cutAt), bytes.subarray(cutAt)]);
    expect(lines).toEqual([`a ${REDACTED} b`]);
  });

  it("one byte per chunk still hides it", async () => {
    const text = Buffer.from("x s3cr3t-value y\n");
    const { lines } = await capture(["s3cr3t-value"], [...text].map((b) => Buffer.from([b])));
    expect(lines).toEqual([`x ${REDACTED} y`]);
  });

  it("hides a value cut in two by the over-long-line split (64 KiB pieces), at every offset near the cut", async () => {
    const secret = "LONG-SECRET-0123456789";
    for (const before of [90, 95, 99, 100, 101]) {
      const line = `${"a".repeat(before)}${secret}${"b".repeat(50)}\n`;
      const { lines, file } = await capture([secret], [line], 100);
      expect(lines.join(""), `value at offset ${before}`).toBe(`${"a".repeat(before)}${REDACTED}${"b".repeat(50)}`);
      expect(file).not.toContain("0123456789");
    }
  });

  it("hides a value longer than a whole line piece", async () => {
    const secret = "k".repeat(500) + "-end";
    const { lines, file } = await capture([secret], [`<${secret}>\n`], 100);
    expect(lines.join("")).toBe(`<${REDACTED}>`);
    expect(file).not.toContain("k".repeat(100));
  });

  it("hides each line of a multi-line value (a PEM key printed as it is)", async () => {
    const pem = "-----BEGIN KEY-----\nMIIBVwIBADANBgkqhkiG9w0BAQEFAASC\nAT8wggE7AgEAAkEAq7BFUpkGp3+XQ\n-----END KEY-----\n";
    const { lines, file } = await capture([pem], [pem]);
    expect(lines).toEqual([REDACTED, REDACTED, REDACTED, REDACTED]);
    expect(file).not.toContain("MIIBVwIBADANBgkqhkiG9w0BAQEFAASC");
  });

  it("leaves values shorter than four characters alone: they would blank out ordinary text", async () => {
    const { lines } = await capture(["ab", "x\n"], ["a cab and a taxi\n"]);
    expect(lines).toEqual(["a cab and a taxi"]);
  });

  it("a value that is part of ordinary output is hidden there too, and the longer of two overlapping values wins", async () => {
    const { lines } = await capture(["ready", "ready-steady"], ["server ready; ready-steady go\n"]);
    expect(lines).toEqual([`server ${REDACTED}; ${REDACTED} go`]);
  });

  it("hides every one of many values, including ones with regex characters and NUL bytes", async () => {
    const secrets = Array.from({ length: 200 }, (_, i) => `tok.${i}*(x)[${i}]$`);
    secrets.push("nul\0inside-value");
    const out = secrets.map((s, i) => `line ${i}: ${s}\n`);
    const { lines, file } = await capture(secrets, out);
    expect(lines).toEqual(secrets.map((_, i) => `line ${i}: ${REDACTED}`));
    for (const s of secrets) expect(file).not.toContain(s);
  });

  it("accepts values as bytes", async () => {
    const { lines } = await capture([new TextEncoder().encode("byte-secret")], ["[byte-secret]\n"]);
    expect(lines).toEqual([`[${REDACTED}]`]);
  });

  it("without values the text is returned as it is", () => {
    const r = createRedactor();
    expect(r.redact("anything [redacted]")).toBe("anything [redacted]");
    expect(r.redactPiece("a", "b", false)).toEqual({ text: "ab", carry: "" });
  });
});
