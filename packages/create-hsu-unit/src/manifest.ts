import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { GeneratorError } from "./errors.ts";

/** A command from template.json: argv, run in the project dir without a shell. */
export type Command = string[];

/** templates/<lang>/template.json (see TEMPLATES.md). */
export interface TemplateManifest {
  language: string;
  implFile: string;
  methodPresent: string;
  stubMarker: string;
  /** Optional: run once before `generate` (e.g. `npm install` for TypeScript). */
  install?: Command;
  generate: Command;
  build: Command;
  run: Command;
  test: Command;
  /** Optional: builds the release artifact dist/<name>-<version>.tar.gz (scripts/package.sh). */
  package?: Command;
  env: Record<string, string>;
  [extra: string]: unknown;
}

function isCommand(value: unknown): value is Command {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string");
}

/** Reads and checks templates/<lang>/template.json. */
export function loadManifest(templateDir: string): TemplateManifest {
  const file = join(templateDir, "template.json");
  if (!existsSync(file)) {
    throw new GeneratorError("bad_template", `${file} is missing: this language has no template yet.`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (cause) {
    throw new GeneratorError("bad_template", `${file} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  for (const key of ["language", "implFile", "methodPresent", "stubMarker"]) {
    if (typeof raw[key] !== "string" || raw[key] === "") {
      throw new GeneratorError("bad_template", `${file}: "${key}" must be a non-empty string.`);
    }
  }
  for (const key of ["generate", "build", "run", "test"]) {
    if (!isCommand(raw[key])) {
      throw new GeneratorError("bad_template", `${file}: "${key}" must be a non-empty array of strings.`);
    }
  }
  for (const key of ["install", "package"]) {
    if (raw[key] !== undefined && !isCommand(raw[key])) {
      throw new GeneratorError("bad_template", `${file}: "${key}" must be a non-empty array of strings.`);
    }
  }
  return { env: {}, ...raw } as TemplateManifest;
}
