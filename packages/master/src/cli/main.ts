#!/usr/bin/env node
import { parseArgs } from "node:util";
import { HsuError } from "@hsu/client";
import { ConnectError } from "@connectrpc/connect";
import { commands, usage } from "./commands.ts";

/** The `hsu` command line: one subcommand, its flags, and exit codes (0 ok, 1 failure, 2 usage). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`hsu: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`hsu ${name}: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    return await command.run(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
  } catch (e) {
    const message = e instanceof ConnectError ? e.rawMessage : HsuError.is(e) || e instanceof Error ? e.message : String(e);
    process.stderr.write(`hsu ${name}: ${message}\n`);
    return 1;
  }
}

const invokedDirectly = process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`hsu: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    },
  );
}
