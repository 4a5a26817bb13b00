// A full disk while extracting: small tmpfs mounts (the tests run as root, as CI does) take an
// archive bigger than they are, or more files than they have inodes. The error must say "disk
// full", name the destination and how much was written, and leave the file system empty.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HsuError } from "@hsu/client/hsu-error";
import { extractArchive, type ArchiveFormat } from "./extract.ts";

const tmp = mkdtempSync(join(tmpdir(), "hsu-extract-full-"));
const small = join(tmp, "small"); // 1 MiB of space
const few = join(tmp, "few"); // plenty of space, 32 inodes
const mounted: string[] = [];
const limits = { maxBytes: 1 << 30, maxEntries: 100_000 };

beforeAll(() => {
  execFileSync("bash", [join(import.meta.dirname, "../../../../scripts/tools/debian.sh"), "zip"], { stdio: "inherit" });
  for (const [dir, opts] of [[small, "size=1m"], [few, "size=64m,nr_inodes=32"]] as const) {
    mkdirSync(dir);
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", opts, "tmpfs", dir], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      throw new Error(`the full-disk tests mount a small tmpfs and need root (CAP_SYS_ADMIN), as CI has: mount -t tmpfs -o ${opts} tmpfs ${dir} failed: ${(e as { stderr?: Buffer }).stderr ?? e}`);
    }
    mounted.push(dir);
  }
  const src = join(tmp, "src");
  mkdirSync(join(src, "lib"), { recursive: true });
  writeFileSync(join(src, "README.md"), "# unit\n");
  writeFileSync(join(src, "lib/big.bin"), randomBytes(4 << 20));
  execFileSync("tar", ["-C", src, "-czf", join(tmp, "big.tar.gz"), "."]);
  execFileSync("tar", ["-C", src, "-cf", join(tmp, "big.tar"), "."]);
  execFileSync("zip", ["-q", "-r", join(tmp, "big.zip"), "."], { cwd: src });
  const many = join(tmp, "many");
  mkdirSync(many);
  for (let i = 0; i < 100; i++) writeFileSync(join(many, `f${i}`), `${i}\n`);
  execFileSync("tar", ["-C", many, "-czf", join(tmp, "many.tgz"), "."]);
  writeFileSync(join(tmp, "tiny.tar.gz"), execFileSync("tar", ["-C", src, "-cz", "README.md"]));
});

afterAll(() => {
  for (const dir of mounted) execFileSync("umount", [dir]);
  rmSync(tmp, { recursive: true, force: true });
});

async function diskFull(archive: string, format: ArchiveFormat, fs: string, dest: string): Promise<HsuError> {
  let err: unknown;
  try {
    await extractArchive(join(tmp, archive), dest, format, limits);
  } catch (e) {
    err = e;
  }
  expect(HsuError.is(err), String(err)).toBe(true);
  const e = err as HsuError;
  expect(e.code).toBe("resource_exhausted");
  expect(e.message).toMatch(/disk full \(ENOSPC\)/);
  expect(e.message).toContain(dest);
  expect(e.message).toContain(`free space on the file system of ${dest}`);
  expect(existsSync(dest)).toBe(false);
  expect(readdirSync(fs)).toEqual([]);
  return e;
}

describe("a full disk", () => {
  for (const [archive, format] of [["big.tar.gz", "tar.gz"], ["big.tar", "tar"], ["big.zip", "zip"]] as const) {
    it(`${archive} (4 MiB) into a 1 MiB tmpfs: "disk full", how much was written, nothing left`, async () => {
      const dest = join(small, "unit");
      const e = await diskFull(archive, format, small, dest);
      expect(e.message).toContain(`entry "${format === "zip" ? "" : "./"}lib/big.bin"`);
      const written = Number(/after (\d+) bytes were written/.exec(e.message)![1]);
      expect(written).toBeGreaterThan(512 * 1024);
      expect(written).toBeLessThanOrEqual(1 << 20);
    });
  }

  it("out of inodes: the file that did not fit is named, and nothing is left", async () => {
    const dest = join(few, "unit");
    const e = await diskFull("many.tgz", "tgz", few, dest);
    expect(e.message).toMatch(/entry "\.\/f\d+"/);
  });

  it("after a failure the space is free again: a small archive fits", async () => {
    const before = statfsSync(small);
    const r = await extractArchive(join(tmp, "tiny.tar.gz"), join(small, "ok"), "tar.gz", limits);
    expect(r.files).toBe(1);
    rmSync(join(small, "ok"), { recursive: true });
    expect(statfsSync(small).bfree).toBe(before.bfree);
  });
});
