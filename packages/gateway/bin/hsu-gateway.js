#!/usr/bin/env node
// The `hsu-gateway` executable as installed: runs the built gateway (dist/main.js).
// A committed file rather than dist itself, so `pnpm install` in a fresh clone can
// link the bin before anything is built; run then, it says how to build.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const built = new URL("../dist/main.js", import.meta.url);
if (existsSync(fileURLToPath(built))) {
  await import(built.href);
} else {
  process.stderr.write(
    `hsu-gateway: not built yet (no ${fileURLToPath(built)}); build it from the repository root with \`pnpm turbo run build --filter=@hsu/gateway...\`\n`,
  );
  process.exit(1);
}
