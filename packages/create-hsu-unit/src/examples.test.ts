// Every example made by create-hsu-unit must equal what the tool writes
// today, except the files its hsu-example.json names as hand-written: a
// template change must come with the regenerated examples.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findAssetDirs } from "./assets.ts";
import { isUserFile, readExampleManifest, regenerateExample } from "./example-check.ts";
import { makeTempDir } from "./test-support/temp.ts";

const examplesDir = resolve(findAssetDirs().templates, "../examples");
const generated = readdirSync(examplesDir).filter((e) => existsSync(join(examplesDir, e, "hsu-unit.json")));
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe("examples are up to date with their templates", () => {
  it("finds the TypeScript echo example", () => {
    expect(generated).toContain("echo-ts");
  });

  it.each(generated)("examples/%s: tool-owned files equal a fresh generation", async (name) => {
    const example = join(examplesDir, name);
    const manifest = readExampleManifest(example);
    const t = makeTempDir("hsu-example-");
    cleanups.push(t.cleanup);
    const { written } = await regenerateExample(example, t.dir);
    const stale = written
      .filter((path) => !isUserFile(manifest, path))
      .filter((path) => {
        const mine = join(example, path);
        return !existsSync(mine) || !readFileSync(mine).equals(readFileSync(join(t.dir, path)));
      });
    expect(stale, `regenerate examples/${name} (create-hsu-unit regen) - these tool-owned files differ`).toEqual([]);
    for (const user of manifest.userFiles.filter((u) => !u.endsWith("/"))) {
      expect(existsSync(join(example, user)), `${name}: userFiles names ${user}, which does not exist`).toBe(true);
    }
  });
});
