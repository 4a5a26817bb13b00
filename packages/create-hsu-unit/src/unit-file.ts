import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { UnitOptions } from "./context.ts";
import { GeneratorError } from "./errors.ts";

/** The file in a generated project that records how it was generated. */
export const unitFileName = "hsu-unit.json";

/** Serialises the options for hsu-unit.json (stable key order, trailing newline). */
export function formatUnitFile(options: UnitOptions): string {
  return JSON.stringify(options, null, 2) + "\n";
}

/** Reads hsu-unit.json from a project dir, so regen renders with the same options. */
export function readUnitFile(dir: string): UnitOptions {
  const file = join(dir, unitFileName);
  if (!existsSync(file)) {
    throw new GeneratorError(
      "not_a_project",
      `${file} not found: run \`create-hsu-unit regen\` in a project made by create-hsu-unit (or pass --dir).`,
    );
  }
  try {
    return JSON.parse(readFileSync(file, "utf8")) as UnitOptions;
  } catch (cause) {
    throw new GeneratorError("not_a_project", `${file} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}
