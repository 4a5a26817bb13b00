import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeConfigFiles } from "./unit-config.ts";

const root = mkdtempSync(join(tmpdir(), "hsu-config-dir-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("writeConfigFiles", () => {
  it("writes 0600 files in a 0700 dir and removes files no longer configured", () => {
    const dir = join(root, "home", "unit");
    writeConfigFiles(dir, [{ name: "a.conf", text: "a", secret: false }, { name: "b.conf", text: "b", secret: false }]);
    writeConfigFiles(dir, [{ name: "a.conf", text: "a2", secret: false }]);
    expect(readdirSync(dir)).toEqual(["a.conf"]);
    expect(readFileSync(join(dir, "a.conf"), "utf8")).toBe("a2");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "a.conf")).mode & 0o777).toBe(0o600);
  });
  it("refuses a parent directory that is a symlink (someone else's on a shared tmpfs)", () => {
    const elsewhere = join(root, "elsewhere");
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(root, "planted"));
    expect(() => writeConfigFiles(join(root, "planted", "unit"), [{ name: "s.conf", text: "secret", secret: true }])).toThrow(/not a directory of this user/);
    expect(readdirSync(join(elsewhere, "unit"))).toEqual([]);
  });
  it("refuses a unit dir that is a symlink", () => {
    mkdirSync(join(root, "p2"));
    mkdirSync(join(root, "target2"));
    symlinkSync(join(root, "target2"), join(root, "p2", "unit"));
    writeFileSync(join(root, "target2", "keep"), "x");
    expect(() => writeConfigFiles(join(root, "p2", "unit"), [])).toThrow(/not a directory of this user/);
    expect(readdirSync(join(root, "target2"))).toEqual(["keep"]);
  });
});
