import { parseArgs } from "node:util";
import { GeneratorError } from "./errors.ts";

/** The command line, parsed. */
export interface CliArgs {
  command: "create" | "regen" | "client";
  help: boolean;
  version: boolean;
  lang?: string;
  proto?: string;
  name?: string;
  dir?: string;
  /** `client`: where the client goes, relative to --dir. */
  out?: string;
  sdk?: string;
  goModule?: string;
  verbose: boolean;
  yes: boolean;
  force: boolean;
  generate: boolean;
}

/** The --help text. */
export const usage = `Usage:
  create-hsu-unit [options]          create a new HSU unit project (asks for what is missing)
  create-hsu-unit regen [--dir DIR] [--sdk ...]
                                     in a project: update tool-owned files, add stubs for new RPCs, regenerate code
  create-hsu-unit client --proto FILE [--dir DIR] [--out PATH]
                                     in a master's project: a typed TypeScript client for the proto's services,
                                     called through the running hsu master (default out: hsu-clients/<proto name>)

Options:
  --lang go|python|rust|ts   language of the unit
  --proto FILE               your .proto (default: a starter proto with one RPC)
  --name NAME                unit name, kebab-case (e.g. echo-unit)
  --dir DIR                  target directory (default ./NAME); for regen, the project dir (default .)
  --yes, -y                  do not ask: use defaults for anything not given
  --force                    overwrite existing files
  --no-generate              skip the project's install and generate commands
  --sdk bundled|registry|DIR
                             TypeScript: where @hsu/* comes from. Default: the registry npm uses
                             when it has them at this version, else the SDK bundled in this tool.
                             "bundled" forces the bundle, "registry" the registry, DIR takes
                             tarballs from DIR (pnpm pack output; also HSU_SDK_DIR). Tarballs are
                             copied to the project's vendor/hsu/ (relative file: dependencies)
  --verbose                  show the output of install and generate as they run
  --go-module PATH           Go module path (default example.com/NAME)
  --help, -h                 show this help
  --version                  show the version

Examples:
  npx create-hsu-unit
  npm create hsu-unit -- --lang go --proto ./api.proto --name orders --yes
  cd orders && npx create-hsu-unit regen
`;

/** Parses argv (without node and the script); unknown flags are usage errors. */
export function parseCliArgs(argv: string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        lang: { type: "string" },
        proto: { type: "string" },
        name: { type: "string" },
        dir: { type: "string" },
        out: { type: "string" },
        sdk: { type: "string" },
        "go-module": { type: "string" },
        verbose: { type: "boolean", default: false },
        yes: { type: "boolean", short: "y", default: false },
        force: { type: "boolean", default: false },
        "no-generate": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", default: false },
      },
    });
  } catch (cause) {
    throw new GeneratorError("usage", `${(cause as Error).message}\nRun create-hsu-unit --help for the options.`, { cause });
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== "regen" && positionals[0] !== "client")) {
    throw new GeneratorError("usage", `unexpected argument "${positionals.join(" ")}": the commands are "regen" and "client".\nRun create-hsu-unit --help.`);
  }
  return {
    command: positionals[0] === "regen" || positionals[0] === "client" ? positionals[0] : "create",
    help: values.help,
    version: values.version,
    lang: values.lang,
    proto: values.proto,
    name: values.name,
    dir: values.dir,
    out: values.out,
    sdk: values.sdk,
    goModule: values["go-module"],
    verbose: values.verbose,
    yes: values.yes,
    force: values.force,
    generate: !values["no-generate"],
  };
}
