// Run by `prepack`: copies the monorepo's templates/ and proto/ into this
// package so the published tarball is self-contained (`--clean` removes them
// again after packing).
import { cpSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repoRoot = resolve(packageRoot, "../..");

for (const dir of ["templates", "proto"]) rmSync(join(packageRoot, dir), { recursive: true, force: true });
if (!process.argv.includes("--clean")) {
  cpSync(join(repoRoot, "templates"), join(packageRoot, "templates"), {
    recursive: true,
    // Build output and installs of a template author's test runs are not template files.
    filter: (src) => !/[/\\](node_modules|target|dist|__pycache__|\.venv)([/\\]|$)/.test(src),
  });
  cpSync(join(repoRoot, "proto"), join(packageRoot, "proto"), {
    recursive: true,
    filter: (src) => !src.endsWith(".binpb"),
  });
}
