import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import { lockedScript } from "./pack-packages.ts";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "hsu-locked-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The shape of a build (delete dist, emit it file by file) and of a pack (read it): under the lock a
// reader never sees the directory half-written, however the two are started.
const build = `rm -rf dist && mkdir dist && for i in 1 2 3 4 5; do echo $i > dist/f$i; sleep 0.05; done`;
const pack = `ls dist 2>/dev/null | wc -l >> packed.log`;

it("a build and a pack of one package never overlap: every pack sees the whole dist", async () => {
  await run("bash", [lockedScript, dir, "sh", "-c", build], { cwd: dir });
  await Promise.all(
    Array.from({ length: 6 }, (_, i) => run("bash", [lockedScript, dir, "sh", "-c", i % 2 ? build : `${build} && ${pack}`], { cwd: dir, timeout: 30_000 })),
  );
  const seen = readFileSync(join(dir, "packed.log"), "utf8").trim().split("\n").map(Number);
  expect(seen).toEqual([5, 5, 5]);
});

it("a command run under the lock takes it again without waiting for itself", async () => {
  const inner = `bash ${lockedScript} . sh -c 'echo inner'`;
  const { stdout } = await run("bash", [lockedScript, dir, "sh", "-c", inner], { cwd: dir, timeout: 10_000 });
  expect(stdout.trim()).toBe("inner");
});
