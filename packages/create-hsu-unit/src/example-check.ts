import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isLanguage } from "./assets.ts";
import { compileProto } from "./buf.ts";
import { isContractFile } from "./context.ts";
import { GeneratorError } from "./errors.ts";
import { createUnit } from "./generator.ts";
import { readUnitFile } from "./unit-file.ts";

/** examples/<name>/hsu-example.json: which files of a generated example are the user's. */
export interface ExampleManifest {
  description?: string;
  /** Project-relative paths (or folder prefixes ending in `/`) written by hand. */
  userFiles: string[];
}

/** Reads hsu-example.json of an example project. */
export function readExampleManifest(exampleDir: string): ExampleManifest {
  const file = join(exampleDir, "hsu-example.json");
  if (!existsSync(file)) {
    throw new GeneratorError("not_a_project", `${file} is missing: list the hand-written files as {"userFiles": [...]}.`);
  }
  const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<ExampleManifest>;
  if (!Array.isArray(parsed.userFiles)) throw new GeneratorError("not_a_project", `${file}: "userFiles" must be a list of paths.`);
  return { ...parsed, userFiles: parsed.userFiles };
}

/** Whether `path` is one of the example's hand-written files. */
export function isUserFile(manifest: ExampleManifest, path: string): boolean {
  return manifest.userFiles.some((u) => (u.endsWith("/") ? path.startsWith(u) : path === u));
}

/**
 * Re-creates an example from its own proto and hsu-unit.json options into
 * `outDir` (no generate step): what the tool would write today.
 */
export async function regenerateExample(exampleDir: string, outDir: string): Promise<{ written: string[] }> {
  const options = readUnitFile(exampleDir);
  if (!isLanguage(options.language)) throw new GeneratorError("not_a_project", `${exampleDir}: unknown language ${options.language}`);
  const own = compileProto("proto", exampleDir).filter((f) => !isContractFile(f.name));
  if (own.length !== 1) {
    throw new GeneratorError("not_a_project", `${exampleDir}: expected one proto of its own, found ${own.map((f) => f.name).join(", ")}`);
  }
  const result = await createUnit({
    name: options.name,
    language: options.language,
    protoFile: join(exampleDir, "proto", own[0]!.name),
    dir: outDir,
    goModule: options.goModule,
    generate: false,
    log: () => {},
  });
  return { written: result.written };
}
