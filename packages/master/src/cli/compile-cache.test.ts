// The compile cache may only ever make `hsu` start faster: a cache path that is a file, a
// directory nobody may write, a user without a home, or a cache dir another user planted must
// leave the CLI working, and the planted one unused.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hsuArgv } from "../test-support/hsu-cli.ts";
import { compileCacheDir } from "./compile-cache.ts";

const tmp = mkdtempSync(join(tmpdir(), "hsu-ccache-"));
// uid 65534 must reach the directories below (and find nothing it may write, unless made so).
chmodSync(tmp, 0o755);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const version = (JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")) as { version: string }).version;

/** `hsu --version` with this environment on top of ours, optionally as another user (setpriv). */
function hsuVersion(env: Record<string, string | undefined>, asUid?: number) {
  const argv = [process.execPath, ...hsuArgv("--version")];
  const [cmd, ...args] = asUid === undefined ? argv : ["setpriv", `--reuid=${asUid}`, `--regid=${asUid}`, "--clear-groups", ...argv];
  return spawnSync(cmd!, args, { cwd: tmp, env: { ...process.env, HSU_COMPILE_CACHE: undefined, XDG_CACHE_HOME: undefined, ...env }, encoding: "utf8", timeout: 60_000 });
}
const expectWorked = (r: ReturnType<typeof hsuVersion>) => {
  expect(r.stderr).toBe("");
  expect(r.stdout).toBe(`hsu ${version}\n`);
  expect(r.status).toBe(0);
};

describe("the compile cache", () => {
  it("is where HSU_COMPILE_CACHE or the user's cache dir says, and off when asked", () => {
    expect(compileCacheDir({ HSU_COMPILE_CACHE: "/some/dir" })).toBe("/some/dir");
    expect(compileCacheDir({ HSU_COMPILE_CACHE: "" })).toBeUndefined();
    expect(compileCacheDir({ HSU_COMPILE_CACHE: "off" })).toBeUndefined();
    expect(compileCacheDir({ XDG_CACHE_HOME: "/xdg" })).toBe("/xdg/hsu/compile-cache");
  });

  it("is written on a first run and used by the next", () => {
    const dir = join(tmp, "fresh", "cache");
    expectWorked(hsuVersion({ HSU_COMPILE_CACHE: dir }));
    expect(readdirSync(dir).length).toBeGreaterThan(0);
    expectWorked(hsuVersion({ HSU_COMPILE_CACHE: dir }));
  });

  it("never fails the CLI: a file in its place, or a directory it may not write", () => {
    const file = join(tmp, "a-file");
    writeFileSync(file, "not a directory");
    expectWorked(hsuVersion({ HSU_COMPILE_CACHE: file }));
    expectWorked(hsuVersion({ HSU_COMPILE_CACHE: join(file, "below") }));
    expect(readFileSync(file, "utf8")).toBe("not a directory");
    const locked = join(tmp, "locked");
    mkdirSync(locked, { mode: 0o500 });
    expectWorked(hsuVersion({ HSU_COMPILE_CACHE: join(locked, "cache") }, 65534));
  });

  it("for a user without a home, uses only a temp dir of their own, never one another user planted", () => {
    const shared = join(tmp, "shared-tmp");
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    // Planted by this (other) user for uid 65534, writable by everyone.
    const planted = join(shared, "hsu-compile-cache-65534");
    mkdirSync(planted);
    chmodSync(planted, 0o777);
    expectWorked(hsuVersion({ HOME: "/nonexistent", TMPDIR: shared }, 65534));
    expect(readdirSync(planted)).toEqual([]);
    // Without the planted one, the user's own 0700 directory is made and filled.
    rmSync(planted, { recursive: true });
    expectWorked(hsuVersion({ HOME: "/nonexistent", TMPDIR: shared }, 65534));
    const own = execFileSync("stat", ["-c", "%u %a", planted], { encoding: "utf8" }).trim();
    expect(own).toBe("65534 700");
    expect(readdirSync(planted).length).toBeGreaterThan(0);
  });
});
