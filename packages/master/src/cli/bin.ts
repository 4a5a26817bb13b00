#!/usr/bin/env node
// The `hsu` executable: runs the CLI with this process's arguments.
import { enableCompileCache } from "./compile-cache.ts";

// Before anything else is imported: the cache covers the modules loaded after it.
enableCompileCache();

// `hsu logs | head` closes the pipe early: that is the reader being done, not a failure.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code !== "EPIPE") throw e;
  process.exit(0);
});
// No top-level await: the single executable's bundle is CommonJS (scripts/bundle.ts).
import("./main.ts")
  .then(({ main }) => main(process.argv.slice(2)))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`hsu: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    },
  );
