import { basename, relative, resolve } from "node:path";
import { hsuVersion, isLanguage, languages } from "./assets.ts";
import { parseCliArgs, usage, type CliArgs } from "./args.ts";
import { GeneratorError } from "./errors.ts";
import { createUnit, regenUnit, type GenerateResult } from "./generator.ts";
import { clientCommand, regenClientsIn } from "./client-gen.ts";
import { askMissing } from "./prompts.ts";
import { parseSdkChoice } from "./sdk.ts";

/** A path as the user would type it from `cwd`: relative below it, absolute elsewhere. */
function shown(cwd: string, path: string): string {
  const rel = relative(cwd, path);
  return rel === "" ? "." : rel.startsWith("..") ? path : rel;
}

function nextSteps(result: GenerateResult, cwd: string, generated: boolean): string {
  const rel = shown(cwd, result.dir);
  const { manifest } = result;
  const lines = ["", `Created ${result.context.name} (${manifest.language}) in ${rel}`, "", "Next steps:", `  cd ${rel}`];
  if (!generated) {
    if (manifest.install) lines.push(`  ${manifest.install.join(" ")}`);
    lines.push(`  ${manifest.generate.join(" ")}`);
  }
  lines.push(
    `  ${manifest.build.join(" ")}`,
    `  ${manifest.run.join(" ")}    # standalone on 127.0.0.1:50051; set HSU_LISTEN to change`,
    "",
    "Implement your RPCs in:",
    ...result.implFiles.map((file, i) => `  ${file}  (${result.context.services[i]?.fullName})`),
    "",
    "After changing the proto, run `create-hsu-unit regen` in the project (the way you ran create-hsu-unit, e.g. `npx create-hsu-unit regen`).",
  );
  return lines.join("\n");
}

async function create(args: CliArgs, cwd: string): Promise<void> {
  if (args.lang !== undefined && !isLanguage(args.lang)) {
    throw new GeneratorError("usage", `--lang ${args.lang}: not a language create-hsu-unit knows; use one of ${languages.join(", ")}.`);
  }
  const interactive = !args.yes && process.stdin.isTTY === true;
  let answers: { name?: string; language?: string; proto?: string; dir?: string } = {
    name: args.name,
    language: args.lang,
    proto: args.proto,
    dir: args.dir,
  };
  if (interactive) {
    answers = await askMissing(answers, cwd);
  } else if (!args.yes && (answers.name === undefined || answers.language === undefined)) {
    throw new GeneratorError("usage", "no terminal to ask in: pass --name and --lang (and --proto, --dir), or --yes for defaults.");
  }
  const name = answers.name ?? (answers.dir ? basename(resolve(cwd, answers.dir)) : "my-unit");
  const language = answers.language ?? "ts";
  if (!isLanguage(language)) throw new GeneratorError("usage", `language ${language} is not one of ${languages.join(", ")}.`);
  const result = await createUnit({
    name,
    language,
    protoFile: answers.proto ? answers.proto : undefined,
    dir: answers.dir ? answers.dir : `./${name}`,
    force: args.force,
    generate: args.generate,
    sdk: parseSdkChoice(args.sdk, process.env["HSU_SDK_DIR"], cwd),
    goModule: args.goModule,
    cwd,
    stdio: args.verbose ? "inherit" : "pipe",
  });
  console.log(nextSteps(result, cwd, args.generate));
}

async function regen(args: CliArgs, cwd: string): Promise<void> {
  if (await regenClientsIn(resolve(cwd, args.dir ?? "."), cwd)) return;
  const result = await regenUnit({
    dir: resolve(cwd, args.dir ?? "."),
    generate: args.generate,
    // Only an explicit --sdk switches a project's SDK; HSU_SDK_DIR is for creating.
    sdk: args.sdk === undefined ? undefined : parseSdkChoice(args.sdk, undefined, cwd),
    stdio: args.verbose ? "inherit" : "pipe",
  });
  console.log(`Updated the tool-owned files in ${shown(cwd, result.dir)}.`);
  if (result.stubsAdded.length > 0) {
    console.log(`Added stubs for ${result.stubsAdded.join(", ")}: implement them in ${result.implFiles.join(", ")}.`);
  } else {
    console.log("Every RPC already has an implementation.");
  }
}

/** Runs the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[], cwd = process.cwd()): Promise<number> {
  try {
    const args = parseCliArgs(argv);
    if (args.help) {
      console.log(usage);
      return 0;
    }
    if (args.version) {
      console.log(hsuVersion());
      return 0;
    }
    if (args.command === "regen") await regen(args, cwd);
    else if (args.command === "client") await clientCommand(args, cwd);
    else await create(args, cwd);
    return 0;
  } catch (error) {
    if (GeneratorError.is(error)) {
      console.error(`create-hsu-unit: ${error.message}`);
      return error.code === "usage" ? 2 : 1;
    }
    // Ctrl-C in a prompt: inquirer rejects with ExitPromptError.
    if (error instanceof Error && error.name === "ExitPromptError") {
      console.error("create-hsu-unit: cancelled.");
      return 130;
    }
    throw error;
  }
}
