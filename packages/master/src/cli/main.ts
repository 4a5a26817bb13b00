import { Code, ConnectError } from "@connectrpc/connect";
import { HsuError } from "@hsu/client";
import { parseArgs } from "node:util";
import { commands } from "./commands.ts";
import { paint, useColor } from "./format.ts";
import { commandHelp, unknownCommand, usage } from "./help.ts";
import { bundled } from "./self.ts";

/** The `hsu` command line: one subcommand, its flags, and exit codes (0 ok, 1 failure, 2 usage). */
export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (!first || first === "-h" || first === "--help") {
    (first ? process.stdout : process.stderr).write(usage(commands, useColor(first ? process.stdout : process.stderr)));
    return first ? 0 : 2;
  }
  if (first === "help") {
    const about = rest[0] ? commands[rest[0]] : undefined;
    if (rest[0] && !about) return fail(unknownCommand(rest[0], commands), 2);
    process.stdout.write(about ? commandHelp(rest[0]!, about) : usage(commands, useColor()));
    return 0;
  }
  if (first === "--version" || first === "-V") {
    process.stdout.write(`hsu ${await version()}\n`);
    return 0;
  }
  const command = commands[first];
  if (!command) return fail(unknownCommand(first, commands), 2);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...command.options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (e) {
    return fail(`${label(first)} ${cleanParseError((e as Error).message)}\nRun \`hsu ${first} --help\` for its options.\n`, 2);
  }
  if (parsed.values.help) {
    process.stdout.write(commandHelp(first, command));
    return 0;
  }
  try {
    return await command.run(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
  } catch (e) {
    const usageMistake = HsuError.is(e) && e.code === "invalid_argument";
    return fail(`${label(first)} ${explain(e)}\n`, usageMistake ? 2 : 1);
  }
}

/** A failure as one readable message: what went wrong and what to do, never a stack trace. */
export function explain(e: unknown): string {
  if (e instanceof ConnectError) {
    if (e.code === Code.Unavailable) return `cannot reach the master (${e.rawMessage}); is it running? \`hsu up -d\` starts one`;
    return e.rawMessage;
  }
  return e instanceof Error ? e.message : String(e);
}

const label = (name: string) => paint(`hsu ${name}:`, "red", useColor(process.stderr));

function fail(message: string, code: number): number {
  process.stderr.write(message);
  return code;
}

// parseArgs explains '--' escaping in every message; a person who typed a wrong flag needs only the first sentence.
const cleanParseError = (m: string) => m.replace(/\. To specify a positional argument.*$/s, "");

async function version(): Promise<string> {
  if (bundled) return bundled.version;
  const { readFile } = await import("node:fs/promises");
  const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}
