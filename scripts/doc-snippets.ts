// The doc-snippet check: every fenced block of README.md, docs/*.md and each
// published package's README is run as a new user would run it - in an empty
// directory under /tmp, outside the repository, against the packed tarballs -
// or is a listed exception with a reason (doc-snippets.exceptions.json).
//
// Blocks by kind (from the fence's info string and its text):
// - shell (sh, bash, shell): run with `bash -eo pipefail` in the file's sandbox;
// - code (ts, js): written beside the sandbox's package.json and run with node;
// - file (an info string with `file=NAME`, e.g. ```js file=unit.js): written as
//   NAME for the blocks after it, not run;
// - hsu.yaml (yaml): checked with `hsu validate -f` and kept as the sandbox's
//   hsu.yaml for the blocks after it; ```yaml fragment marks a part of a file,
//   which is not validated;
// - transcript (`$ cmd` lines, each followed by its output): every command
//   runs in the sandbox and must exit 0, or with the N of an `[exit N]` line
//   in its output; the output itself is not compared;
// - anything else (output without a command, other languages): must be an
//   exception.
//
// Each file gets its own sandbox (`npm init -y`, the blocks in order) and a
// master a block started there is stopped afterwards (`hsu down`). The
// registry cannot serve @hsu/* before they are published, so an `npm` first
// on the blocks' PATH maps `@hsu/<name>` and `create-hsu-unit` arguments of
// npm install to the tarballs, and the sandbox's package.json overrides the
// tarballs' own @hsu/* dependencies to them; everything else comes from the
// registry. `hsu` is on PATH from a tools directory with @hsu/master installed.
//
// A block is identified by its file and `heading#n` (the nearest heading
// above it and its index under that heading, from 1), so exceptions survive
// edits elsewhere in the file. Every block has a deadline.
//
// node scripts/doc-snippets.ts [--list] [--tarballs DIR] [FILE...]
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, delimiter, join, relative } from "node:path";
import { repoRoot } from "./pack-packages.ts";

/** One fenced block of a Markdown file. */
export interface Block {
  /** Repository-relative path of the Markdown file. */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** Stable id: `heading#n`. */
  readonly id: string;
  /** The fence's info string (`ts`, `yaml fragment`, `js file=unit.js`). */
  readonly info: string;
  readonly body: string;
}

export type BlockKind = "shell" | "code" | "file" | "hsu.yaml" | "fragment" | "transcript" | "other";

/** A listed exception: the block is not run, for the reason given. */
export interface SnippetException {
  readonly file: string;
  readonly block: string;
  readonly reason: string;
}

/** What happened to one block. */
export interface BlockResult {
  readonly block: Block;
  readonly kind: BlockKind;
  readonly status: "passed" | "failed" | "excepted" | "written";
  readonly detail: string;
  readonly ms: number;
}

/** The outcome of one run over a set of files. */
export interface SnippetReport {
  readonly results: BlockResult[];
  /** Exceptions naming a block that no longer exists. */
  readonly staleExceptions: SnippetException[];
  readonly ms: number;
}

/** The Markdown files whose blocks are checked, repository-relative. */
export function docFiles(): string[] {
  const docs = readdirSync(join(repoRoot, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`);
  const readmes = readdirSync(join(repoRoot, "packages"))
    .filter((d) => existsSync(join(repoRoot, "packages", d, "README.md")))
    .filter((d) => !(JSON.parse(readFileSync(join(repoRoot, "packages", d, "package.json"), "utf8")) as { private?: boolean }).private)
    .sort()
    .map((d) => `packages/${d}/README.md`);
  return ["README.md", ...docs, ...readmes];
}

/** Every fenced block of a Markdown text, with its stable id. */
export function extractBlocks(file: string, text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  let heading = "(top)";
  const perHeading = new Map<string, number>();
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(lines[i]!);
    if (!open) {
      const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(lines[i]!);
      if (h) heading = h[1]!;
      continue;
    }
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = new RegExp(`^\\s*${fence[0]}{${fence.length},}\\s*$`).exec(lines[j]!);
      if (close) break;
      body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!);
    }
    const n = (perHeading.get(heading) ?? 0) + 1;
    perHeading.set(heading, n);
    blocks.push({ file, line: i + 1, id: `${heading}#${n}`, info: info.trim(), body: body.join("\n") });
    i = j;
  }
  return blocks;
}

/** The kind of a block, from its info string and text (see the top of this file). */
export function classify(block: Block): BlockKind {
  const [lang = "", ...attrs] = block.info.split(/\s+/).filter(Boolean);
  if (attrs.some((a) => a.startsWith("file="))) return "file";
  const transcript = /^\$ /m.test(block.body);
  if (["sh", "bash", "shell", "console", "", "text"].includes(lang) && transcript) return "transcript";
  if (["sh", "bash", "shell"].includes(lang)) return "shell";
  if (["ts", "typescript", "js", "javascript", "mjs"].includes(lang)) return "code";
  if (lang === "yaml" || lang === "yml") return attrs.includes("fragment") ? "fragment" : "hsu.yaml";
  return "other";
}

/** The first non-empty line of a block, for messages. */
export function firstLine(block: Block): string {
  return block.body.split("\n").find((l) => l.trim() !== "")?.trim() ?? "(empty block)";
}

/** One transcript command and the exit code its output shows (0 without `[exit N]`). */
export interface TranscriptCommand {
  readonly command: string;
  readonly exitCode: number;
}

/** The `$ cmd` lines of a transcript with their expected exit codes. */
export function transcriptCommands(body: string): TranscriptCommand[] {
  const out: { command: string; exitCode: number }[] = [];
  for (const line of body.split("\n")) {
    const cmd = /^\$ (.*)$/.exec(line);
    if (cmd) {
      out.push({ command: cmd[1]!, exitCode: 0 });
      continue;
    }
    const exit = /^\[exit (\d+)\]\s*$/.exec(line);
    const last = out.at(-1);
    if (exit && last) last.exitCode = Number(exit[1]);
  }
  return out;
}

/** Reads the exceptions file (a JSON array of `{ file, block, reason }`). */
export function loadExceptions(path: string): SnippetException[] {
  const list = JSON.parse(readFileSync(path, "utf8")) as SnippetException[];
  for (const e of list) {
    if (typeof e.file !== "string" || typeof e.block !== "string" || typeof e.reason !== "string" || e.reason.trim() === "") {
      throw new Error(`${path}: every exception needs file, block and a reason: ${JSON.stringify(e)}`);
    }
  }
  return list;
}

export const exceptionsFile = join(repoRoot, "scripts", "doc-snippets.exceptions.json");

/** Deadlines, per block kind. */
export interface Deadlines {
  readonly shellMs: number;
  readonly codeMs: number;
  readonly commandMs: number;
}

export const defaultDeadlines: Deadlines = { shellMs: 180_000, codeMs: 60_000, commandMs: 60_000 };

/** Where the blocks run: tarballs by package name, and the tools dir with `hsu`. */
export interface SnippetEnv {
  readonly work: string;
  readonly tarballs: Record<string, string>;
  /** A directory whose node_modules/.bin has `hsu`, or undefined (no hsu.yaml checks possible). */
  readonly tools: string | undefined;
  readonly deadlines: Deadlines;
}

interface Ran {
  code: number | null;
  out: string;
  timedOut: boolean;
}

/** Runs a command in its own process group, killed as a whole at the deadline. */
function runWithDeadline(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, deadlineMs: number): Promise<Ran> {
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const keep = (d: Buffer) => {
      out += d.toString("utf8");
      if (out.length > 200_000) out = out.slice(-100_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // Already gone.
      }
    }, deadlineMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolveRun({ code: null, out: `${out}${e.message}`, timedOut });
    });
    // "close" waits for every holder of the output pipes: a block that leaves a
    // process writing to them runs into its deadline. One that detaches on
    // purpose (a daemon) is found by the sweep after its file.
    child.on("close", (code) => {
      clearTimeout(timer);
      resolveRun({ code, out, timedOut });
    });
  });
}

/**
 * The npm on the blocks' PATH: `npm install` arguments naming @hsu/* or
 * create-hsu-unit become `file:` dependencies on the tarballs, written into
 * package.json with the very spec the sandbox's overrides use (npm refuses an
 * override that differs from a direct dependency), then real npm installs.
 */
function npmShim(realNpm: string, tarballs: Record<string, string>): string {
  return `#!/usr/bin/env node
// Written by scripts/doc-snippets.ts: the registry cannot serve these packages yet.
const { spawnSync } = require("node:child_process");
const { readFileSync, writeFileSync } = require("node:fs");
const tarballs = ${JSON.stringify(tarballs)};
let args = process.argv.slice(2);
if (["install", "i", "add"].includes(args[0])) {
  const ours = args.slice(1).map((a) => /^(@hsu\\/[a-z0-9-]+|create-hsu-unit)(@.*)?$/.exec(a)).filter((m) => m && tarballs[m[1]]);
  if (ours.length) {
    const dev = args.includes("-D") || args.includes("--save-dev");
    const pkg = JSON.parse(readFileSync("package.json", "utf8"));
    const key = dev ? "devDependencies" : "dependencies";
    pkg[key] = { ...(pkg[key] || {}) };
    for (const m of ours) pkg[key][m[1]] = "file:" + tarballs[m[1]];
    writeFileSync("package.json", JSON.stringify(pkg, null, 2) + "\\n");
    args = args.filter((a) => !ours.some((m) => m[0] === a));
  }
}
const r = spawnSync(${JSON.stringify(realNpm)}, args, { stdio: "inherit" });
process.exit(r.status ?? 1);
`;
}

function findOnPath(name: string): string {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} is not on PATH`);
}

/** The environment blocks run with: a user's shell, not this test runner's. */
function blockEnv(sandbox: string, env: SnippetEnv): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|NPM_|PNPM_|pnpm_|VITEST|NODE_OPTIONS$|NODE_ENV$|HSU_|TURBO_|INIT_CWD$)/.test(k)) continue;
    clean[k] = v;
  }
  const path = [join(sandbox, ".doc-bin"), join(sandbox, "node_modules", ".bin")];
  if (env.tools) path.push(join(env.tools, "node_modules", ".bin"));
  clean.PATH = [...path, process.env.PATH ?? ""].join(delimiter);
  clean.NO_COLOR = "1";
  clean.CI = "1";
  return clean;
}

/** A fresh `npm init -y` directory whose @hsu/* dependencies resolve to the tarballs. */
async function makeSandbox(dir: string, env: SnippetEnv): Promise<string | undefined> {
  mkdirSync(join(dir, ".doc-bin"), { recursive: true });
  const shim = join(dir, ".doc-bin", "npm");
  writeFileSync(shim, npmShim(findOnPath("npm"), env.tarballs));
  chmodSync(shim, 0o755);
  const init = await runWithDeadline("npm", ["init", "-y"], dir, blockEnv(dir, env), env.deadlines.commandMs);
  if (init.code !== 0) return `npm init -y failed in ${dir}:\n${init.out}`;
  const pkgFile = join(dir, "package.json");
  const pkg = JSON.parse(readFileSync(pkgFile, "utf8")) as Record<string, unknown>;
  const overrides = Object.fromEntries(Object.entries(env.tarballs).filter(([name]) => name.startsWith("@hsu/")).map(([name, t]) => [name, `file:${t}`]));
  if (Object.keys(overrides).length) pkg.overrides = overrides;
  writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
  return undefined;
}

/** Installs @hsu/master from its tarball into a tools directory, for `hsu` on the blocks' PATH. */
export async function prepareEnv(work: string, tarballs: Record<string, string>, deadlines: Deadlines = defaultDeadlines): Promise<SnippetEnv> {
  const base: SnippetEnv = { work, tarballs, tools: undefined, deadlines };
  if (!tarballs["@hsu/master"]) return base;
  const tools = join(work, "tools");
  mkdirSync(tools, { recursive: true });
  const failed = await makeSandbox(tools, base);
  if (failed) throw new Error(failed);
  const r = await runWithDeadline("npm", ["install", "--no-audit", "--no-fund", "@hsu/master"], tools, blockEnv(tools, base), deadlines.shellMs);
  if (r.code !== 0) throw new Error(`installing @hsu/master from ${tarballs["@hsu/master"]} failed:\n${r.out}`);
  return { ...base, tools };
}

function tail(text: string, lines = 25): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

async function runBlock(block: Block, kind: BlockKind, sandbox: string, env: SnippetEnv, index: number): Promise<Omit<BlockResult, "block" | "kind" | "ms">> {
  const shellEnv = blockEnv(sandbox, env);
  const fail = (detail: string) => ({ status: "failed" as const, detail });
  switch (kind) {
    case "file": {
      const name = /(?:^|\s)file=(\S+)/.exec(block.info)![1]!;
      writeFileSync(join(sandbox, name), `${block.body}\n`);
      return { status: "written", detail: name };
    }
    case "shell": {
      const r = await runWithDeadline("bash", ["-eo", "pipefail", "-c", block.body], sandbox, shellEnv, env.deadlines.shellMs);
      if (r.timedOut) return fail(`did not finish within ${env.deadlines.shellMs} ms:\n${tail(r.out)}`);
      return r.code === 0 ? { status: "passed", detail: "" } : fail(`exit ${r.code}:\n${tail(r.out)}`);
    }
    case "code": {
      const ext = /^(ts|typescript)$/.test(block.info.split(/\s+/)[0]!) ? "ts" : "mjs";
      const name = `snippet-${index}.${ext}`;
      writeFileSync(join(sandbox, name), `${block.body}\n`);
      const r = await runWithDeadline("node", [name], sandbox, shellEnv, env.deadlines.codeMs);
      if (r.timedOut) return fail(`node ${name} did not exit within ${env.deadlines.codeMs} ms:\n${tail(r.out)}`);
      return r.code === 0 ? { status: "passed", detail: "" } : fail(`node ${name}: exit ${r.code}:\n${tail(r.out)}`);
    }
    case "hsu.yaml": {
      if (!env.tools) return fail("no @hsu/master tarball to validate hsu.yaml blocks with");
      const name = `snippet-${index}.yaml`;
      writeFileSync(join(sandbox, name), `${block.body}\n`);
      const r = await runWithDeadline("hsu", ["validate", "-f", name], sandbox, shellEnv, env.deadlines.commandMs);
      if (r.code !== 0) return fail(`hsu validate: exit ${r.code}${r.timedOut ? " (deadline)" : ""}:\n${tail(r.out)}`);
      writeFileSync(join(sandbox, "hsu.yaml"), `${block.body}\n`);
      return { status: "passed", detail: "" };
    }
    case "transcript": {
      for (const { command, exitCode } of transcriptCommands(block.body)) {
        const r = await runWithDeadline("bash", ["-c", command], sandbox, shellEnv, env.deadlines.commandMs);
        if (r.timedOut) return fail(`$ ${command}: did not finish within ${env.deadlines.commandMs} ms:\n${tail(r.out)}`);
        if (r.code !== exitCode) return fail(`$ ${command}: exit ${r.code}, the transcript shows ${exitCode}:\n${tail(r.out)}`);
      }
      return { status: "passed", detail: "" };
    }
    default:
      return fail("not a runnable block (no shell, code, hsu.yaml or `$ command`): run it, or list it as an exception with a reason");
  }
}

/** Stops a master the blocks left running in the sandbox; returns what went wrong, if anything. */
async function stopLeftovers(sandbox: string, env: SnippetEnv): Promise<string | undefined> {
  if (!env.tools || !existsSync(join(sandbox, ".hsu"))) return undefined;
  const r = await runWithDeadline("hsu", ["down"], sandbox, blockEnv(sandbox, env), env.deadlines.commandMs);
  return r.code === 0 ? undefined : `hsu down after the file's blocks: exit ${r.code}:\n${tail(r.out)}`;
}

/**
 * Kills every process still working in the sandbox (its cwd inside it) after
 * the file's blocks and `hsu down`, and names them: a doc must not leave
 * processes behind.
 */
function sweepLeftovers(sandbox: string): string | undefined {
  const left: string[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue;
    }
    if (cwd !== sandbox && !cwd.startsWith(`${sandbox}/`)) continue;
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    } catch {
      // Gone meanwhile.
    }
    try {
      process.kill(Number(pid), "SIGKILL");
      left.push(`${pid} ${cmd}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return left.length ? `the blocks left ${left.length} processes running (killed now):\n${left.join("\n")}` : undefined;
}

/** Runs every block of the given files (repository-relative) in order, each file in its own sandbox. */
export async function runDocs(files: string[], env: SnippetEnv, exceptions: SnippetException[], root = repoRoot): Promise<SnippetReport> {
  const started = Date.now();
  const results: BlockResult[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    const blocks = extractBlocks(file, readFileSync(join(root, file), "utf8"));
    const sandbox = join(env.work, file.replace(/[^a-zA-Z0-9]+/g, "-"));
    rmSync(sandbox, { recursive: true, force: true });
    mkdirSync(sandbox, { recursive: true });
    const setupFailure = await makeSandbox(sandbox, env);
    let index = 0;
    for (const block of blocks) {
      index++;
      const kind = classify(block);
      const exception = exceptions.find((e) => e.file === file && e.block === block.id);
      const t0 = Date.now();
      if (exception) {
        seen.add(`${file}\0${block.id}`);
        results.push({ block, kind, status: "excepted", detail: exception.reason, ms: 0 });
        continue;
      }
      const r = setupFailure ? { status: "failed" as const, detail: setupFailure } : await runBlock(block, kind, sandbox, env, index);
      results.push({ block, kind, ...r, ms: Date.now() - t0 });
    }
    const leftovers = [await stopLeftovers(sandbox, env), sweepLeftovers(sandbox)].filter((x) => x !== undefined);
    const last = blocks.at(-1);
    for (const detail of leftovers) if (last) results.push({ block: last, kind: classify(last), status: "failed", detail, ms: 0 });
    rmSync(sandbox, { recursive: true, force: true });
  }
  const staleExceptions = exceptions.filter((e) => files.includes(e.file) && !seen.has(`${e.file}\0${e.block}`));
  return { results, staleExceptions, ms: Date.now() - started };
}

/** One line per failure (`file:line: [id] first line`, then the detail) and per stale exception. */
export function formatProblems(report: SnippetReport): string[] {
  const out: string[] = [];
  for (const r of report.results) {
    if (r.status !== "failed") continue;
    out.push(`${r.block.file}:${r.block.line}: [${r.block.id}] ${firstLine(r.block)}\n  ${r.detail.split("\n").join("\n  ")}`);
  }
  for (const e of report.staleExceptions) {
    out.push(`${relative(repoRoot, exceptionsFile)}: the exception for ${e.file} [${e.block}] names no block of that file (remove it or fix its id)`);
  }
  return out;
}

/** A summary line: counts per status and the time taken. */
export function summary(report: SnippetReport): string {
  const count = (s: BlockResult["status"]) => report.results.filter((r) => r.status === s).length;
  return `${report.results.length} blocks: ${count("passed")} passed, ${count("failed")} failed, ${count("excepted")} listed exceptions, ${count("written")} files written; ${report.staleExceptions.length} stale exceptions; ${Math.round(report.ms / 1000)} s`;
}

/** The tarballs of a directory of `pnpm pack` output, by package name. */
export function tarballsIn(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".tgz"))) {
    const name = f.startsWith("hsu-") ? `@hsu/${f.replace(/^hsu-/, "").replace(/-\d.*$/, "")}` : f.replace(/-\d.*$/, "");
    out[name] = join(dir, f);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const list = argv.includes("--list");
  const t = argv.indexOf("--tarballs");
  const files = argv.filter((a, i) => !a.startsWith("--") && argv[i - 1] !== "--tarballs");
  const chosen = files.length ? files : docFiles();
  if (list) {
    for (const file of chosen) {
      for (const b of extractBlocks(file, readFileSync(join(repoRoot, file), "utf8"))) {
        console.log(`${b.file}:${b.line}\t${classify(b)}\t${b.id}\t${firstLine(b)}`);
      }
    }
    return 0;
  }
  const work = mkdtempSync(join(tmpdir(), "hsu-doc-"));
  try {
    let dir = t >= 0 ? argv[t + 1]! : undefined;
    if (!dir) {
      const { packAll } = await import("./pack-packages.ts");
      dir = join(work, "tarballs");
      mkdirSync(dir);
      await packAll(dir);
    }
    const env = await prepareEnv(work, tarballsIn(dir));
    const report = await runDocs(chosen, env, loadExceptions(exceptionsFile));
    for (const r of report.results) console.log(`${r.status.padEnd(8)} ${r.kind.padEnd(10)} ${r.block.file}:${r.block.line} [${r.block.id}] ${Math.round(r.ms)} ms`);
    const problems = formatProblems(report);
    if (problems.length) console.log(`\n${problems.join("\n")}`);
    console.log(summary(report));
    return problems.length ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && basename(process.argv[1]) === "doc-snippets.ts") {
  process.exitCode = await main(process.argv.slice(2));
}
