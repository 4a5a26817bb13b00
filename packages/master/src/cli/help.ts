import { closest } from "@hsu/client/closest";
import { paint } from "./color.ts";

type Options = NonNullable<Parameters<typeof import("node:util").parseArgs>[0]>["options"];

/**
 * One `hsu` subcommand. The table of commands holds only these names, texts
 * and options; `run` loads the command's implementation when it runs, so
 * `hsu --help`, `--version` and a usage error load nothing heavy.
 */
export interface Command {
  summary: string;
  args?: string;
  options: Options;
  /** Example invocations shown by `hsu <command> --help`. */
  examples?: string[];
  /** Hidden from `hsu --help` (internal commands). */
  hidden?: boolean;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

// One description per option name: the same flag means the same thing in every command.
const optionDocs: Record<string, { value?: string; text: string }> = {
  file: { value: "FILE", text: "the spec file (default hsu.yaml in this directory)" },
  socket: { value: "PATH|HOST:PORT", text: "talk to this control socket instead of the one hsu.yaml names (also HSU_CONTROL)" },
  ca: { value: "FILE", text: "over TCP, speak TLS and trust this CA for the master's certificate (also HSU_CONTROL_CA)" },
  "client-cert": { value: "FILE", text: "over TLS, present this client certificate (client_auth; also HSU_CONTROL_CERT)" },
  "client-key": { value: "FILE", text: "the private key of --client-cert (also HSU_CONTROL_KEY)" },
  json: { text: "print JSON instead of a table, for scripts" },
  detach: { text: "run the master in the background and return once units are up" },
  follow: { text: "keep printing new lines until Ctrl-C" },
  since: { value: "DURATION", text: 'only lines newer than this, e.g. "10m", "2h"' },
  tail: { value: "N", text: "the last N lines (hsu logs: of each unit, default 100, 0 with -f: only new ones; hsu audit: default all)" },
  timestamps: { text: "prefix each line with the time it was written" },
  wide: { text: "add ADDRESS, LAST EXIT and DESCRIPTION columns" },
  "dry-run": { text: "show what would change, change nothing" },
  "from-file": { value: "PATH", text: "read the value from this file instead of standard input (never from the command line)" },
  now: { text: "upgrade even outside the unit's upgrade.window, and without waiting for upgrade.when_idle" },
  all: { text: "every unit of the deployment (each replica of each pool), in one call" },
  output: { value: "DIR", text: "write the files in this directory (default: this one)" },
  name: { value: "NAME", text: "the name: of the key files, NAME.key and NAME.pub (default hsu); of a new token" },
  role: { value: "ROLE", text: "a role of the new token: caller, viewer, operator or admin; repeat for several" },
  unit: { value: "GLOB", text: "limit the new token to these units (globs, repeat for several; default every unit)" },
  method: { value: "GLOB", text: "limit the new token to these methods, \"pkg.Service/Method\" globs (repeat; default every method)" },
  expires: { value: "DURATION", text: "the new token stops working after this long (30d, 12h; default never)" },
  "no-password": { text: "store the secret key unencrypted (otherwise HSU_KEY_PASSWORD encrypts it)" },
  key: { value: "FILE", text: "the minisign secret key (default $HSU_SIGNING_KEY, else ./hsu.key); HSU_KEY_PASSWORD unlocks it" },
  "trusted-comment": { value: "TEXT", text: "a one-line comment signed with the file (default: timestamp and file name)" },
  signature: { value: "FILE", text: "the signature file (default <file>.minisig)" },
  pubkey: { value: "KEY", text: "a trusted public key: a .pub file, or the key's base64 line; repeat for several" },
  help: { text: "show this help" },
};

/** Help for one command: usage line, what it does, its options and examples. */
export function commandHelp(name: string, command: Command): string {
  const opts = Object.entries({ ...command.options, help: { type: "boolean", short: "h" } }).map(([long, o]) => {
    const doc = optionDocs[long];
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${long}${o.type === "string" && doc?.value ? ` ${doc.value}` : ""}`;
    return `  ${flag.padEnd(30)} ${doc?.text ?? ""}`.trimEnd();
  });
  const examples = command.examples?.length ? `\nExamples:\n${command.examples.map((e) => `  ${e}`).join("\n")}\n` : "";
  return `Usage: hsu ${name}${command.args ? ` ${command.args}` : ""} [options]\n\n${capitalize(command.summary)}.\n\nOptions:\n${opts.join("\n")}\n${examples}`;
}

/** The `hsu --help` text. */
export function usage(commands: Record<string, Command>, color = false): string {
  const lines = Object.entries(commands)
    .filter(([, c]) => !c.hidden)
    .map(([name, c]) => `  ${paint(`${name}${c.args ? ` ${c.args}` : ""}`.padEnd(22), "bold", color)} ${c.summary}`);
  return [
    "hsu - run the native processes of an application from one hsu.yaml",
    "",
    "Usage: hsu <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Every command reads ./hsu.yaml; -f/--file names another (hsu logs: --file).",
    "`hsu <command> --help` shows a command's options. Exit codes: 0 ok, 1 failure, 2 usage error.",
    "",
  ].join("\n");
}

/** The reply to an unknown command: the closest real one, if any. */
export function unknownCommand(name: string, commands: Record<string, Command>): string {
  const guess = closest(
    name,
    Object.keys(commands).filter((c) => !commands[c]!.hidden),
    { prefix: true },
  );
  return `hsu: unknown command "${name}".${guess ? ` Did you mean \`hsu ${guess}\`?` : ""} Run \`hsu --help\` for the list.\n`;
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
