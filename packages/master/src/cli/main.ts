import { parseArgs } from "node:util";
import { paint, useColor } from "./color.ts";
import { commands } from "./commands.ts";
import { commandHelp, unknownCommand, usage } from "./help.ts";
import { bundled } from "./self.ts";
import { useControlFlags } from "./tcp-credentials.ts";

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
  useControlFlags(parsed.values);
  try {
    return await command.run(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
  } catch (e) {
    // Only a failure pays for the error types it tells apart.
    const { explain, isUsageMistake } = await import("./explain.ts");
    return fail(`${label(first)} ${explain(e)}\n`, isUsageMistake(e) ? 2 : 1);
  }
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
