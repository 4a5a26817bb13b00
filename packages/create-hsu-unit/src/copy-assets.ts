// Run by `prepack`: copies the monorepo's templates/ and proto/ into this
// package and packs the SDK a TypeScript unit installs (@hsu/server,
// @hsu/client and the @hsu/* they depend on) into sdk/, so the published
// tarball is self-contained and works before @hsu/* is on the registry
// (`--clean`, run by `postpack`, removes them again).
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repoRoot = resolve(packageRoot, "../..");

/** The SDK packages a generated project may depend on; their @hsu/* dependencies come along. */
const sdkRoots = ["server", "client"];

/** `short` and every @hsu/* package it depends on, dependencies first. */
function withDependencies(short: string, out: string[] = []): string[] {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "packages", short, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    if (name.startsWith("@hsu/")) withDependencies(name.slice("@hsu/".length), out);
  }
  if (!out.includes(short)) out.push(short);
  return out;
}

for (const dir of ["templates", "proto", "sdk"]) rmSync(join(packageRoot, dir), { recursive: true, force: true });
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
  const sdk = join(packageRoot, "sdk");
  mkdirSync(sdk);
  const packages = sdkRoots.reduce<string[]>((all, root) => withDependencies(root, all), []);
  for (const short of packages) {
    const cwd = join(repoRoot, "packages", short);
    process.stderr.write(`create-hsu-unit prepack: build and pack @hsu/${short} into sdk/\n`);
    execFileSync("bash", [join(repoRoot, "scripts", "build-and-pack.sh"), cwd, sdk], {
      cwd,
      stdio: ["ignore", "ignore", "inherit"],
    });
  }
}
