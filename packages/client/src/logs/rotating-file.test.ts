import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRotatingFile } from "./rotating-file.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hsu-rot-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("rotating file", () => {
  it("counts an existing file's size, and gives an oversized record a file of its own", async () => {
    const path = join(dir, "a.log");
    await writeFile(path, "12345678\n"); // 9 bytes from an earlier run
    const f = createRotatingFile({ path, maxFileBytes: 10, maxFiles: 2 });
    f.write("ab\n"); // 9 + 3 > 10: rotates first
    f.write("this record is longer than ten bytes\n");
    f.write("cd\n");
    await f.close();
    expect(await readFile(`${path}.2`, "utf8")).toBe("ab\n");
    expect(await readFile(`${path}.1`, "utf8")).toBe("this record is longer than ten bytes\n");
    expect(await readFile(path, "utf8")).toBe("cd\n");
    expect((await readdir(dir)).sort()).toEqual(["a.log", "a.log.1", "a.log.2"]);
  });

  it("with maxFiles 0 starts the file over instead of keeping copies", async () => {
    const path = join(dir, "b.log");
    const f = createRotatingFile({ path, maxFileBytes: 8, maxFiles: 0 });
    for (const r of ["one\n", "two\n", "six\n"]) f.write(r);
    await f.close();
    expect(await readdir(dir)).toEqual(["b.log"]);
    expect(await readFile(path, "utf8")).toBe("six\n");
  });

  it("reports pressure above the high-water mark and releases it at half", async () => {
    const events: boolean[] = [];
    const f = createRotatingFile({ path: join(dir, "c.log"), maxFileBytes: 1 << 20, maxFiles: 1, highWaterBytes: 10, onPressure: (h) => events.push(h) });
    f.write("0123456789\n");
    expect(f.pendingBytes).toBe(11);
    expect(events).toEqual([true]);
    await f.flush();
    expect(events).toEqual([true, false]);
    expect(f.pendingBytes).toBe(0);
    await f.close();
    expect(() => f.write("x\n")).toThrow(/closed/);
  });
});

describe("rotating file: what counts as written", () => {
  it("reports records as written only after their write returned, in pieces of at most 64 KiB", async () => {
    const path = join(dir, "w.log");
    const seen: { records: number; onDisk: number }[] = [];
    const f = createRotatingFile({
      path,
      maxFileBytes: 1 << 30,
      maxFiles: 1,
      onWritten: (records) => seen.push({ records, onDisk: readFileSync(path, "utf8").split("\n").length - 1 }),
    });
    const record = `${"x".repeat(1023)}\n`; // 1 KiB
    for (let i = 0; i < 200; i++) f.write(record);
    expect(f.queued).toBe(200);
    await f.flush();
    // 200 KiB in 64 KiB pieces: 64 records each, the last piece 8.
    expect(seen.map((s) => s.records)).toEqual([64, 128, 192, 200]);
    for (const s of seen) expect(s.onDisk).toBe(s.records);
    await f.close();
  });

  it("ends a record torn by a crash before appending, so the next record is a line of its own", async () => {
    const path = join(dir, "torn.log");
    await writeFile(path, "whole\nto");
    const f = createRotatingFile({ path, maxFileBytes: 1 << 20, maxFiles: 1 });
    f.write("next\n");
    await f.close();
    expect(await readFile(path, "utf8")).toBe("whole\nto\nnext\n");
  });

  it("after a failed write, nothing more is reported as written (a durable reader resumes before the loss)", async () => {
    const path = join(dir, "gone", "f.log"); // its directory does not exist: every write fails
    const seen: number[] = [];
    const f = createRotatingFile({ path, maxFileBytes: 1 << 20, maxFiles: 1, onWritten: (n) => seen.push(n) });
    f.write("a\n");
    await expect(f.flush()).rejects.toThrow(/writing log file/);
    await mkdir(join(dir, "gone"));
    f.write("b\n");
    await f.flush();
    expect(await readFile(path, "utf8")).toBe("b\n");
    expect(seen).toEqual([]);
    await f.close();
  });
});
