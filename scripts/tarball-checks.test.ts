// The tarball checks find what publint and attw do not: an export condition
// (custom ones too) or a bin naming an unshipped file, and source maps.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { sourceMapFiles, unshippedTargets } from "./tarball-checks.ts";

const root = mkdtempSync(join(tmpdir(), "hsu-tarball-checks-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function pkg(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  return dir;
}

const manifest = (exports: unknown, bin?: unknown) => JSON.stringify({ name: "x", type: "module", exports, ...(bin ? { bin } : {}) });

it("a clean package passes both", () => {
  const dir = pkg("clean", {
    "package.json": manifest({ ".": { types: "./dist/index.d.ts", default: "./dist/index.js" }, "./gen/*.js": "./dist/gen/*.js", "./package.json": "./package.json" }, { x: "./dist/cli.js" }),
    "dist/index.js": "export {};\n",
    "dist/index.d.ts": "export {};\n",
    "dist/cli.js": "#!/usr/bin/env node\n",
    "dist/gen/a.js": "export {};\n",
  });
  expect(unshippedTargets(dir)).toEqual([]);
  expect(sourceMapFiles(dir)).toEqual([]);
});

it("a custom condition, a wildcard or a bin that names no shipped file is reported", () => {
  const dir = pkg("unshipped", {
    "package.json": manifest({ ".": { "@hsu/source": "./src/index.ts", default: "./dist/index.js" }, "./gen/*.js": "./src/gen/*.js" }, { x: "./dist/cli.js" }),
    "dist/index.js": "export {};\n",
  });
  expect(unshippedTargets(dir)).toEqual(["./src/index.ts", "./src/gen/*.js", "./dist/cli.js"]);
});

it("source maps and files pointing at them are reported", () => {
  const dir = pkg("maps", {
    "package.json": manifest({ ".": "./dist/index.js" }),
    "dist/index.js": "export {};\n//# sourceMappingURL=index.js.map\n",
    "dist/index.js.map": "{}",
    "dist/index.d.ts": "export {};\n//# sourceMappingURL=index.d.ts.map\n",
  });
  expect(sourceMapFiles(dir).sort()).toEqual(["dist/index.d.ts", "dist/index.js", "dist/index.js.map"]);
});
