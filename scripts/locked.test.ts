import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import { buildAndPackScript, lockedScript } from "./pack-packages.ts";

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

it("build-and-pack.sh packs the whole dist while other builds of the package run", async () => {
  const pkg = join(dir, "pkg");
  mkdirSync(pkg);
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "fake-pkg", version: "1.0.0", files: ["dist"], scripts: { build } }));
  const dests = [0, 1].map((i) => join(dir, `out${i}`));
  for (const d of dests) mkdirSync(d);
  await Promise.all([
    ...dests.map((d) => run("bash", [buildAndPackScript, pkg, d], { cwd: pkg, timeout: 60_000 })),
    ...[0, 1].map(() => run("bash", [lockedScript, pkg, "sh", "-c", build], { cwd: pkg, timeout: 60_000 })),
  ]);
  for (const d of dests) {
    const { stdout } = await run("tar", ["tzf", join(d, "fake-pkg-1.0.0.tgz")]);
    expect(stdout.split("\n").filter((f) => f.startsWith("package/dist/")).sort()).toEqual([1, 2, 3, 4, 5].map((i) => `package/dist/f${i}`));
  }
});
