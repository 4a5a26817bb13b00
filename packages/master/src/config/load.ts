import { dirname, resolve } from "node:path";
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { isScalar, LineCounter, parseDocument, type Node } from "yaml";
import { HsuError } from "@hsu/client";
import { ReadContext, type SpecIssue } from "./fields.ts";
import { deploymentField, type RawDeployment, type RawUnit } from "./schema.ts";
import { applyDefaults, type Deployment } from "./defaults.ts";
import { validators } from "./validators.ts";
import { runtimeIssues } from "./runtime-checks.ts";

/** The largest hsu.yaml the master reads: a real one is a few kilobytes. */
export const MAX_SPEC_BYTES = 2 * 1024 * 1024;
/** The deepest nesting of mappings and lists hsu.yaml may have (the spec itself needs 6). */
export const MAX_SPEC_DEPTH = 64;
/** At most this many problems are listed; the count says how many more there are. */
const MAX_SHOWN = 50;

/** A spec that failed validation: every issue, each with its path and line. */
export class SpecError extends HsuError {
  readonly issues: readonly SpecIssue[];
  constructor(file: string, issues: readonly SpecIssue[]) {
    const shown = issues.slice(0, MAX_SHOWN);
    super(
      "invalid_config",
      `${issues.length} problem${issues.length === 1 ? "" : "s"}:\n` +
        shown.map((i) => `  ${file}:${i.line}:${i.column}: ${i.path}: ${i.message}`).join("\n") +
        (issues.length > shown.length ? `\n  ... and ${issues.length - shown.length} more` : ""),
      { file },
    );
    this.issues = issues;
  }
}

/** Options of {@link parseDeployment}. */
export interface ParseOptions {
  /**
   * Run the checks that look at the machine (executables, cwd, token file,
   * state dir) as the runtime will; on by default. Off only to read a spec
   * written for another machine, or to find the master's socket.
   */
  environment?: boolean;
  /** The size of the file on disk, when only its beginning was read. */
  fileBytes?: number;
}

/**
 * Loads a deployment spec in one pass: bounded input -> parse YAML (anchors
 * resolved) -> read every field -> hsu.yaml shape rules -> defaults -> the
 * library's own checks of every unit -> a frozen result. Every problem is
 * reported at once (SpecError) with its path, line and column, so nothing
 * starts from a half-valid file and nothing that validates fails later.
 */
export function parseDeployment(input: string | Uint8Array, file = "hsu.yaml", baseDir = process.cwd(), options: ParseOptions = {}): Deployment {
  const text = decode(input, file, options.fileBytes);
  const lines = new LineCounter();
  const early = (path: string, offset: number, message: string): never => {
    // Line starts are only known once the text is scanned; count them by hand.
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    throw new SpecError(file, [{ path, line, column: offset - before.lastIndexOf("\n"), message }]);
  };
  const nul = text.indexOf("\0");
  if (nul >= 0) early("(file)", nul, "contains a NUL byte: hsu.yaml must be text (write \\0 in a quoted string if you mean it, and it will still be refused)");
  const deep = tooDeep(text);
  if (deep !== undefined) early("(yaml)", deep, `nested more than ${MAX_SPEC_DEPTH} levels deep`);
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  } catch (e) {
    // The scan above bounds the nesting; this is the parser's last word, never a stack trace.
    return early("(yaml)", 0, `cannot parse: ${(e as Error).message}`);
  }
  const ctx = new ReadContext(lines, doc);
  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0]);
    ctx.issues.push({ path: "(yaml)", line: pos.line, column: pos.col, message: e.message.split("\n")[0]! });
  }
  if (ctx.issues.length) throw new SpecError(file, ctx.issues);
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    throw new SpecError(file, [{ path: "(file)", line: 1, column: 1, message: "is empty: a spec needs at least `units:` with one unit" }]);
  }
  const raw = deploymentField.read(doc.contents as Node, ctx, "") as RawDeployment | undefined;
  if (raw?.units) {
    for (const [name, check] of Object.entries(validators)) {
      for (const { path, message } of check(raw as RawDeployment & { units: Record<string, RawUnit> })) {
        ctx.issueAt(path, `${message} [${name}]`);
      }
    }
  }
  if (ctx.issues.length || !raw) throw new SpecError(file, sorted(ctx.issues));
  const deployment = applyDefaults(raw, baseDir);
  for (const { path, message } of runtimeIssues(deployment, options.environment ?? true)) ctx.issueAt(path, message);
  if (ctx.issues.length) throw new SpecError(file, sorted(ctx.issues));
  return deployment;
}

function sorted(issues: readonly SpecIssue[]): SpecIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
}

/** UTF-8 text of the file, or a SpecError at the first byte that is not. */
function decode(input: string | Uint8Array, file: string, fileBytes?: number): string {
  const bytes = typeof input === "string" ? undefined : input;
  const size = fileBytes ?? (bytes ? bytes.byteLength : Buffer.byteLength(input as string));
  if (size > MAX_SPEC_BYTES) {
    throw new SpecError(file, [{ path: "(file)", line: 1, column: 1, message: `is ${(size / 1024 / 1024).toFixed(1)} MiB; hsu.yaml may be at most ${MAX_SPEC_BYTES / 1024 / 1024} MiB` }]);
  }
  if (!bytes) return input as string;
  const bad = firstInvalidUtf8(bytes);
  if (bad !== undefined) {
    const before = Buffer.from(bytes.subarray(0, bad)).toString("utf8");
    const line = before.split("\n").length;
    const column = before.length - before.lastIndexOf("\n");
    throw new SpecError(file, [{ path: "(file)", line, column, message: `is not UTF-8 text (byte 0x${bytes[bad]!.toString(16).padStart(2, "0")} at offset ${bad}): save hsu.yaml as UTF-8` }]);
  }
  return new TextDecoder("utf-8").decode(bytes);
}

/** The offset of the first byte that does not start a well-formed UTF-8 sequence, if any. */
function firstInvalidUtf8(b: Uint8Array): number | undefined {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k]! & 0xc0) !== 0x80) return i;
    // Overlong forms, surrogates and code points above U+10FFFF.
    if ((c === 0xe0 && b[i + 1]! < 0xa0) || (c === 0xed && b[i + 1]! > 0x9f) || (c === 0xf0 && b[i + 1]! < 0x90) || (c === 0xf4 && b[i + 1]! > 0x8f)) return i;
    i += n + 1;
  }
  return undefined;
}

/**
 * The offset where the text nests deeper than MAX_SPEC_DEPTH, by a scan that
 * never recurses: indentation levels, "- " and "? " indicators, and flow
 * brackets outside quotes. It over-counts a little (that errs on the safe
 * side: the limit is ten times what hsu.yaml needs).
 */
function tooDeep(text: string): number | undefined {
  const indents: number[] = [];
  let flow = 0;
  let offset = 0;
  for (const line of text.split("\n")) {
    const start = offset;
    offset += line.length + 1;
    const body = line.trimStart();
    if (body === "" || body.startsWith("#")) continue;
    const indent = line.length - body.length;
    if (flow === 0) {
      while (indents.length && indents[indents.length - 1]! >= indent) indents.pop();
      indents.push(indent);
    }
    let depth = indents.length + flow;
    let quote: string | undefined;
    for (let i = 0; i < body.length; i++) {
      const c = body[i]!;
      if (quote) {
        if (c === quote) quote = undefined;
        else if (c === "\\" && quote === '"') i++;
        continue;
      }
      if (c === '"' || c === "'") quote = c;
      else if (c === "#" && (i === 0 || body[i - 1] === " ")) break;
      else if (c === "[" || c === "{") flow++;
      else if (c === "]" || c === "}") flow = Math.max(0, flow - 1);
      else if ((c === "-" || c === "?" || c === ":") && (body[i + 1] === " " || i + 1 === body.length)) depth++;
      if (depth + flow > MAX_SPEC_DEPTH) return start + indent + i;
    }
  }
  return undefined;
}

/** Reads and loads a spec file; paths in it are relative to its directory. */
export async function loadDeployment(path: string, options: ParseOptions = {}): Promise<Deployment> {
  let bytes: Uint8Array;
  let fileBytes: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the check below then refuses anything but a file.
    const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new Error(`${path} is not a regular file`);
      // Read at most one byte past the limit: a huge file is refused without reading it all.
      const buf = Buffer.alloc(Math.min(st.size, MAX_SPEC_BYTES) + 1);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      bytes = buf.subarray(0, bytesRead);
      fileBytes = Math.max(st.size, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (e) {
    throw new HsuError("invalid_config", `cannot read the spec: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return parseDeployment(bytes, path, dirname(resolve(path)), { ...options, fileBytes });
}

