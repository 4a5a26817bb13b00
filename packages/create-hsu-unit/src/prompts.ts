import { existsSync } from "node:fs";
import { resolve } from "node:path";
import nodePlop from "node-plop";
import { languages } from "./assets.ts";
import { checkUnitName } from "./generator.ts";

/** The answers the interactive mode collects (flags already given are not asked). */
export interface PromptAnswers {
  name: string;
  language: string;
  /** Empty for the starter proto. */
  proto: string;
  dir: string;
}

const languageLabels: Record<string, string> = {
  go: "Go",
  python: "Python",
  rust: "Rust",
  ts: "TypeScript (Node.js)",
};

/**
 * Asks for whatever `known` lacks, with node-plop's prompts (inquirer): a
 * validated name, the language from a list, a proto path (empty = starter)
 * and the target directory.
 */
export async function askMissing(known: Partial<PromptAnswers>, cwd: string): Promise<PromptAnswers> {
  const plop = await nodePlop();
  const questions: object[] = [];
  if (known.name === undefined) {
    questions.push({
      type: "input",
      name: "name",
      message: "Unit name (kebab-case)",
      default: "my-unit",
      validate: (value: string) => {
        try {
          checkUnitName(value);
          return true;
        } catch (error) {
          return (error as Error).message;
        }
      },
    });
  }
  if (known.language === undefined) {
    questions.push({
      type: "list",
      name: "language",
      message: "Language",
      choices: languages.map((value) => ({ name: languageLabels[value] ?? value, value })),
      default: "ts",
    });
  }
  if (known.proto === undefined) {
    questions.push({
      type: "input",
      name: "proto",
      message: "Your .proto file (leave empty for a starter proto)",
      validate: (value: string) =>
        value.trim() === "" || existsSync(resolve(cwd, value.trim())) || `${value}: no such file`,
    });
  }
  if (known.dir === undefined) {
    questions.push({
      type: "input",
      name: "dir",
      message: "Target directory",
      default: (answers: { name?: string }) => `./${answers.name ?? known.name}`,
    });
  }
  const generator = plop.setGenerator("unit", { description: "HSU unit", prompts: questions as never, actions: [] });
  const answers = questions.length > 0 ? ((await generator.runPrompts()) as Partial<PromptAnswers>) : {};
  return {
    name: known.name ?? answers.name ?? "",
    language: known.language ?? answers.language ?? "",
    proto: (known.proto ?? answers.proto ?? "").trim(),
    dir: known.dir ?? answers.dir ?? "",
  };
}
