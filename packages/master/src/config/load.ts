import { dirname, resolve } from "node:path";
import { readFile } from "node:fs/promises";
import { LineCounter, parseDocument, type Node } from "yaml";
import { HsuError } from "@hsu/client";
import { ReadContext, type SpecIssue } from "./fields.ts";
import { deploymentField, type RawDeployment, type RawUnit } from "./schema.ts";
import { applyDefaults, type Deployment } from "./defaults.ts";
import { validators } from "./validators.ts";

/** A spec that failed validation: every issue, each with its path and line. */
export class SpecError extends HsuError {
  readonly issues: readonly SpecIssue[];
  constructor(file: string, issues: readonly SpecIssue[]) {
    super(
      "invalid_config",
      `${issues.length} problem${issues.length === 1 ? "" : "s"}:\n` +
        issues.map((i) => `  ${file}:${i.line}:${i.column}: ${i.path}: ${i.message}`).join("\n"),
      { file },
    );
    this.issues = issues;
  }
}


/**
 * Loads a deployment spec in one pass: parse YAML -> read every field ->
 * named cross-field validators -> defaults -> a frozen result. Every problem
 * is reported at once (SpecError), so nothing starts from a half-valid file.
 */
export function parseDeployment(text: string, file = "hsu.yaml", baseDir = process.cwd()): Deployment {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const ctx = new ReadContext(lines);
  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0]);
    ctx.issues.push({ path: "(yaml)", line: pos.line, column: pos.col, message: e.message.split("\n")[0]! });
  }
  if (ctx.issues.length) throw new SpecError(file, ctx.issues);
  const raw = deploymentField.read(doc.contents as Node, ctx, "") as RawDeployment | undefined;
  if (raw?.units) {
    for (const [name, check] of Object.entries(validators)) {
      for (const { path, message } of check(raw as RawDeployment & { units: Record<string, RawUnit> })) {
        ctx.issue(path, undefined, `${message} [${name}]`);
      }
    }
  }
  if (ctx.issues.length || !raw) {
    throw new SpecError(file, [...ctx.issues].sort((a, b) => a.line - b.line || a.column - b.column));
  }
  return applyDefaults(raw, baseDir);
}

/** Reads and loads a spec file; paths in it are relative to its directory. */
export async function loadDeployment(path: string): Promise<Deployment> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new HsuError("invalid_config", `cannot read the spec: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return parseDeployment(text, path, dirname(resolve(path)));
}
