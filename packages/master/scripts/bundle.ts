// Builds the `hsu` CLI and daemon (src/cli/bin.ts and everything it imports,
// the @hsu/* workspace packages included) into bundles that need no
// node_modules:
//   node scripts/bundle.ts          dist/bundle/: ESM, one entry (hsu.js) and
//                                   its lazy chunks; what bin/hsu.js runs in
//                                   the npm package
//   node scripts/bundle.ts --sea    dist-sea/hsu: a single executable (Node's
//                                   SEA: a CommonJS bundle with its V8 code
//                                   cache, injected into a copy of this node)
/// <reference path="./postject.d.ts" />
import { build, type BuildOptions } from "esbuild";
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "postject";
import { DAEMON_NODE_FLAGS } from "../src/daemon/v8-flags.ts";

const pkgDir = join(import.meta.dirname, "..");
const { version } = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { version: string };

/** The fuse Node's binary carries for a SEA blob (docs/api/single-executable-applications.md). */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

const common = (entry: string): BuildOptions => ({
  entryPoints: { [entry.replace(/\.c?js$/, "")]: join(pkgDir, "src", "cli", "bin.ts") },
  bundle: true,
  platform: "node",
  target: "node22",
  // The workspace packages from their TypeScript source, as tests run them: no dist of theirs needed.
  conditions: ["@hsu/source"],
  // src/cli/self.ts: how the CLI runs itself again, and its version without a package.json beside it.
  define: { HSU_BUNDLE: JSON.stringify({ entry, version }) },
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: "none",
  logLevel: "warning",
});

/** dist/bundle/hsu.js and its chunks; the `import()`s of lazily loaded commands stay lazy, each a chunk. */
export async function bundleEsm(): Promise<string> {
  const outdir = join(pkgDir, "dist", "bundle");
  rmSync(outdir, { recursive: true, force: true });
  await build({
    ...common("hsu.js"),
    format: "esm",
    splitting: true,
    outdir,
    // Chunks sit flat beside the entry, so `new URL("./hsu.js", import.meta.url)` finds it from any of them.
    chunkNames: "chunk-[hash]",
    // A CommonJS dependency's require() of a builtin needs a real require in an ES module.
    banner: { js: 'import { createRequire as __hsuCreateRequire } from "node:module"; const require = __hsuCreateRequire(import.meta.url);' },
  });
  return join(outdir, "hsu.js");
}

/** dist-sea/hsu: the single executable; finds nothing on disk but itself. */
export async function buildSea(): Promise<string> {
  const outdir = join(pkgDir, "dist-sea");
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const main = join(outdir, "hsu.cjs");
  await build({
    ...common("hsu.cjs"),
    // A SEA's main is one CommonJS script (Node 24), and `import()` does not work with its code cache:
    // every import() of a bundled module becomes an inline require, of a builtin a require too.
    format: "cjs",
    supported: { "dynamic-import": false },
    outfile: main,
    // Under a SEA, self.ts answers before reading import.meta, and main.ts's version comes from HSU_BUNDLE.
    logOverride: { "empty-import-meta": "silent" },
  });
  const blob = join(outdir, "hsu.blob");
  const config = join(outdir, "sea-config.json");
  // A SEA takes no Node flags on its command line: the daemon's (daemon/v8-flags.ts) are built in, for the CLI too.
  const execArgv = [...DAEMON_NODE_FLAGS];
  writeFileSync(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: true, execArgv }, null, 2));
  execFileSync(process.execPath, ["--experimental-sea-config", config], { cwd: outdir, stdio: ["ignore", "ignore", "inherit"] });
  const exe = join(outdir, "hsu");
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  // postject's ELF reader warns of every note section it has no name for (harmless, as Node's docs say); it
  // binds console.warn when it loads, inside inject(), so only those lines are left out while it runs.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => String(args[0]).startsWith("warning: Can't find string offset for section name") || warn(...args);
  try {
    await inject(exe, "NODE_SEA_BLOB", readFileSync(blob), { sentinelFuse: SEA_FUSE });
  } finally {
    console.warn = warn;
  }
  rmSync(blob);
  return exe;
}

/** Where each build writes its executable (the entry that runs it). */
export const outputs = { esm: join(pkgDir, "dist", "bundle", "hsu.js"), sea: join(pkgDir, "dist-sea", "hsu") };

/**
 * The output exists and is newer than every file it is built from (the
 * source of this package and of the workspace packages it bundles, this
 * script, the lockfile): what the tests reuse instead of building again.
 */
export function isFresh(output: string): boolean {
  if (!existsSync(output)) return false;
  const built = statSync(output).mtimeMs;
  const newer = (path: string): boolean => {
    const st = statSync(path);
    if (!st.isDirectory()) return st.mtimeMs > built;
    return readdirSync(path).some((n) => n !== "node_modules" && newer(join(path, n)));
  };
  const packages = join(pkgDir, "..");
  const inputs = [join(pkgDir, "src"), join(pkgDir, "package.json"), import.meta.filename, join(packages, "..", "pnpm-lock.yaml")];
  for (const dep of ["client", "transport", "proto"]) inputs.push(join(packages, dep, "src"));
  return !inputs.some(newer);
}

if (import.meta.main) {
  const built = process.argv.includes("--sea") ? await buildSea() : await bundleEsm();
  process.stdout.write(`built ${built}\n`);
}
