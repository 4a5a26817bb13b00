import { spawn } from "node:child_process";
import { mkdtempSync, openSync, closeSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createFileTail } from "./file-tail.ts";

async function collect(stream: AsyncIterable<Buffer>): Promise<string> {
  let out = "";
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

describe("createFileTail", () => {
  it("follows a file a real process appends to, until the process is gone, losing nothing", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "hsu-tail-")), "out");
    const fd = openSync(file, "w");
    const child = spawn("sh", ["-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done"], { stdio: ["ignore", fd, "ignore"] });
    closeSync(fd);
    const exited = new Promise((r) => child.once("exit", r));
    const text = await collect(createFileTail(file, { until: exited, pollMs: 5 }));
    const lines = text.trimEnd().split("\n");
    expect(lines).toHaveLength(2000);
    expect(lines.every((l, i) => l === `line ${i}`)).toBe(true);
  });

  it("starts at an offset (where a previous master stopped reading)", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "hsu-tail-")), "out");
    writeFileSync(file, "old 1\nold 2\nnew 1\n");
    const tail = createFileTail(file, { from: "old 1\nold 2\n".length, until: Promise.resolve() });
    expect(await collect(tail)).toBe("new 1\n");
    expect(tail.offset).toBe(18);
  });

  it("waits for a file that does not exist yet", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "hsu-tail-")), "late");
    let done!: () => void;
    const until = new Promise<void>((r) => (done = r));
    const reading = collect(createFileTail(file, { until, pollMs: 5 }));
    writeFileSync(file, "hello\n");
    setTimeout(done, 50);
    expect(await reading).toBe("hello\n");
  });
});
