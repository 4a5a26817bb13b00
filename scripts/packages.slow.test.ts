// What users install: every published package, packed as it would be
// published, passes publint --strict and attw, carries README and LICENSE,
// exports only files it ships, and ships no source map that points outside it.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packAll, repoRoot, type PackedPackage } from "./pack-packages.ts";
import { sourceMapFiles, unshippedTargets } from "./tarball-checks.ts";

const work = mkdtempSync(join(tmpdir(), "hsu-packages-"));
let packed: PackedPackage[] = [];

const execFileP = promisify(execFile);

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string; stdout: string }> {
  try {
    const r = await execFileP(cmd, args, { cwd: repoRoot, encoding: "utf8", timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, out: r.stdout + r.stderr, stdout: r.stdout };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof err.code === "number" ? err.code : 1, out: `${err.stdout ?? ""}${err.stderr ?? ""}${err.message}`, stdout: err.stdout ?? "" };
  }
}

beforeAll(async () => {
  mkdirSync(join(work, "tarballs"));
  packed = await packAll(join(work, "tarballs"));
}, 600_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(["@hsu/proto", "@hsu/transport", "@hsu/server", "@hsu/client", "@hsu/master", "@hsu/gateway", "create-hsu-unit"])("%s tarball", (name) => {
  const pkg = () => {
    const p = packed.find((x) => x.name === name);
    if (!p) throw new Error(`${name} was not packed`);
    return p;
  };
  const unpacked = () => {
    const dir = join(work, "unpacked", name);
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      execFileSync("tar", ["-xzf", pkg().tarball, "-C", dir]);
    }
    return join(dir, "package");
  };

  it("passes publint --strict with no message at all", async () => {
    const r = await run("npx", ["publint", "run", "--strict", "--pack", "false", pkg().tarball]);
    expect(r.out, r.out).toMatch(/All good!/);
    expect(r.code, r.out).toBe(0);
  });

  it("passes attw (ESM-only profile)", async () => {
    // The packages are ESM only ("type": "module", no "require" condition,
    // engines node >= 22), so the CommonJS resolutions (node10, node16 from
    // CJS) are out of scope; every other resolution must have no problem.
    const r = await run("npx", ["attw", "--profile", "esm-only", "--format", "json", pkg().tarball]);
    const report = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as { problems: Record<string, { resolutionKind?: string; entrypoint?: string }[]> };
    const ignored = new Set(["node10", "node16-cjs"]);
    const problems = Object.values(report.problems).flat().filter((p) => p.resolutionKind === undefined || !ignored.has(p.resolutionKind));
    expect(problems, r.out).toEqual([]);
    expect(r.code, r.out).toBe(0);
  });

  it("ships a README and the repository's LICENSE, byte for byte", () => {
    const dir = unpacked();
    expect(readFileSync(join(dir, "README.md"), "utf8")).toMatch(/^# /);
    expect(readFileSync(join(dir, "LICENSE"), "utf8")).toBe(readFileSync(join(repoRoot, "LICENSE"), "utf8"));
  });

  it("says where it comes from: repository (with directory), homepage, bugs, keywords, license", () => {
    const manifest = JSON.parse(readFileSync(join(unpacked(), "package.json"), "utf8")) as Record<string, unknown>;
    const dirName = relative(join(repoRoot, "packages"), pkg().dir);
    expect(manifest.repository).toMatchObject({ type: "git", directory: `packages/${dirName}` });
    expect(manifest.homepage).toMatch(/^https:\/\//);
    expect(manifest.bugs).toMatchObject({ url: expect.stringMatching(/^https:\/\//) });
    expect((manifest.keywords as string[]).length).toBeGreaterThan(0);
    expect(manifest.license).toBe("Apache-2.0");
  });

  it("exports only files it ships, in every condition", () => {
    expect(unshippedTargets(unpacked()), "export or bin targets not in the tarball").toEqual([]);
  });

  it("ships no source map, and no file points at one", () => {
    expect(sourceMapFiles(unpacked())).toEqual([]);
  });
});
