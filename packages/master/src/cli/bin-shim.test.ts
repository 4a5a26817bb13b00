// The installed `hsu` is the committed bin/hsu.js: it runs dist when it is
// built and, in a fresh clone where it is not, says how to build it.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const pkgDir = join(import.meta.dirname, "..", "..");
const shim = join(pkgDir, "bin", "hsu.js");
const tmp = mkdtempSync(join(tmpdir(), "hsu-shim-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the package with only the shim (and, when given, a dist/cli/bin.js). */
function fakePackage(name: string, builtBin?: string): string {
  const dir = join(tmp, name);
  mkdirSync(join(dir, "bin"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  copyFileSync(shim, join(dir, "bin", "hsu.js"));
  if (builtBin !== undefined) {
    mkdirSync(join(dir, "dist", "cli"), { recursive: true });
    writeFileSync(join(dir, "dist", "cli", "bin.js"), builtBin);
  }
  return join(dir, "bin", "hsu.js");
}

describe("the hsu bin", () => {
  it("is the committed shim, shipped in the tarball and executable", () => {
    const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { bin: Record<string, string>; files: string[] };
    expect(pkg.bin).toEqual({ hsu: "./bin/hsu.js" });
    expect(pkg.files).toContain("bin");
    expect(statSync(shim).mode & 0o111).not.toBe(0);
    expect(readFileSync(shim, "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
  });

  it("without dist says how to build and exits 1, with no stack trace", () => {
    const r = spawnSync(process.execPath, [fakePackage("unbuilt"), "--help"], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^hsu: the CLI is not built yet \(no .*\/dist\/cli\/bin\.js\); build it .*`pnpm turbo run build --filter=@hsu\/master\.\.\.`\n$/);
  });

  it("with dist runs it with the arguments, exit code and output untouched", () => {
    const bin = fakePackage("built", "process.stdout.write(JSON.stringify(process.argv.slice(2))); process.exitCode = 3;\n");
    const r = spawnSync(process.execPath, [bin, "ps", "--json"], { encoding: "utf8" });
    expect(r.status).toBe(3);
    expect(r.stdout).toBe('["ps","--json"]');
    expect(r.stderr).toBe("");
  });

  it("prefers the bundle (dist/bundle/hsu.js) to dist when both are there", () => {
    const bin = fakePackage("bundled", 'process.stdout.write("dist");\n');
    mkdirSync(join(bin, "..", "..", "dist", "bundle"));
    writeFileSync(join(bin, "..", "..", "dist", "bundle", "hsu.js"), "process.stdout.write(`bundle ${process.argv.slice(2)}`);\n");
    const r = spawnSync(process.execPath, [bin, "ps"], { encoding: "utf8" });
    expect(r.stdout).toBe("bundle ps");
    expect(r.status).toBe(0);
  });

  it("a built CLI that throws while loading is not reported as unbuilt", () => {
    const bin = fakePackage("broken", 'throw new Error("boom");\n');
    const r = spawnSync(process.execPath, [bin], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("boom");
    expect(r.stderr).not.toContain("not built");
  });

  it("runs through the shebang as pnpm links it", () => {
    expect(execFileSync(fakePackage("shebang", 'process.stdout.write("ran");\n'), { encoding: "utf8" })).toBe("ran");
  });
});
