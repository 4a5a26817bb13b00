#!/usr/bin/env node
// The `hsu` executable as installed: runs the bundled CLI (dist/bundle/hsu.js,
// one file and its lazy chunks, built by scripts/bundle.ts), else the built
// one (dist/cli/bin.js). A committed file rather than dist itself, so that
// `pnpm install` in a fresh clone can link the bin before anything is built;
// run then, it says how to build instead of failing with a module-not-found stack.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bundle = new URL("../dist/bundle/hsu.js", import.meta.url);
const built = new URL("../dist/cli/bin.js", import.meta.url);
if (existsSync(fileURLToPath(bundle))) {
  // The bundle's entry turns on the compile cache itself, in a directory only this user can write (cli/compile-cache.ts).
  await import(bundle.href);
} else if (existsSync(fileURLToPath(built))) {
  await import(built.href);
} else {
  process.stderr.write(
    `hsu: the CLI is not built yet (no ${fileURLToPath(built)}); build it from the repository root with \`pnpm turbo run build --filter=@hsu/master...\`\n`,
  );
  process.exitCode = 1;
}
