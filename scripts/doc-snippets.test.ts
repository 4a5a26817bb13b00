// The doc-snippet runner itself: ids, kinds, exit codes of transcripts, and
// that a failing block, a hung block, a leftover process and a stale
// exception each fail the check with file:line and the block's first line.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "./pack-packages.ts";
import { classify, defaultDeadlines, extractBlocks, formatProblems, loadExceptions, exceptionsFile, docFiles, runDocs, transcriptCommands, type SnippetEnv } from "./doc-snippets.ts";

const root = mkdtempSync(join(tmpdir(), "hsu-doc-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const env = (deadlines = defaultDeadlines): SnippetEnv => {
  const work = join(root, `work-${Math.random().toString(36).slice(2)}`);
  mkdirSync(work);
  return { work, tarballs: {}, tools: undefined, deadlines };
};
const doc = (name: string, text: string) => {
  writeFileSync(join(root, name), text);
  return name;
};

const sample = [
  "# Title",
  "```sh",
  "echo top",
  "```",
  "## Install",
  "```sh",
  "npm install x",
  "```",
  "text",
  "```ts",
  "console.log(1)",
  "```",
  "## Run",
  "```",
  "$ hsu ps",
  "UNIT ...",
  "$ hsu sotp",
  "hsu: unknown command",
  "[exit 2]",
  "```",
  "```yaml fragment",
  "restart: { policy: always }",
  "```",
  "```js file=unit.js",
  "export {};",
  "```",
  "````text",
  "```",
  "not a fence end",
  "````",
].join("\n");

describe("extractBlocks and classify", () => {
  const blocks = extractBlocks("x.md", sample);

  it("ids are the heading and the index under it, lines are the opening fence", () => {
    expect(blocks.map((b) => [b.id, b.line])).toEqual([
      ["Title#1", 2],
      ["Install#1", 6],
      ["Install#2", 10],
      ["Run#1", 14],
      ["Run#2", 21],
      ["Run#3", 24],
      ["Run#4", 27],
    ]);
  });

  it("kinds come from the info string and the text", () => {
    expect(blocks.map(classify)).toEqual(["shell", "shell", "code", "transcript", "fragment", "file", "other"]);
  });

  it("a longer fence is closed only by one at least as long", () => {
    expect(blocks[6]!.body).toBe("```\nnot a fence end");
  });

  it("a transcript command expects 0, or the N of its [exit N] line", () => {
    expect(transcriptCommands(blocks[3]!.body)).toEqual([
      { command: "hsu ps", exitCode: 0 },
      { command: "hsu sotp", exitCode: 2 },
    ]);
  });
});

describe("runDocs", () => {
  it("runs blocks in order in one sandbox outside the repository, and passes good ones", async () => {
    const file = doc("good.md", "# G\n```sh\necho hi > a.txt\n```\n```js file=read.mjs\nimport { readFileSync } from 'node:fs';\nif (readFileSync('a.txt', 'utf8') !== 'hi\\n') process.exit(3);\n```\n```\n$ node read.mjs\n$ false\n[exit 1]\n```\n");
    const report = await runDocs([file], env(), [], root);
    expect(formatProblems(report)).toEqual([]);
    expect(report.results.map((r) => r.status)).toEqual(["passed", "written", "passed"]);
  });

  it("a failing block fails with file:line, its id and first line, and the output", async () => {
    const file = doc("bad.md", "# B\n\n## Step\n```sh\n# say why\necho broken >&2; exit 7\n```\n");
    const problems = formatProblems(await runDocs([file], env(), [], root));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^bad\.md:4: \[Step#1\] # say why\n/);
    expect(problems[0]).toMatch(/exit 7/);
    expect(problems[0]).toMatch(/broken/);
  });

  it("a transcript command with another exit code than shown fails", async () => {
    const file = doc("exit.md", "# E\n```\n$ true\n[exit 1]\n```\n");
    expect(formatProblems(await runDocs([file], env(), [], root))[0]).toMatch(/\$ true: exit 0, the transcript shows 1/);
  });

  it("a block that does not finish is killed at its deadline and fails", async () => {
    const file = doc("hang.md", "# H\n```sh\nsleep 300\n```\n");
    const report = await runDocs([file], env({ ...defaultDeadlines, shellMs: 1000 }), [], root);
    expect(formatProblems(report)[0]).toMatch(/did not finish within 1000 ms/);
  });

  it("a process a block leaves behind is killed and named", async () => {
    const file = doc("leak.md", "# L\n```sh\nsleep 300 < /dev/null > /dev/null 2>&1 &\n```\n");
    const problems = formatProblems(await runDocs([file], env(), [], root));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/left 1 processes running \(killed now\):\n\s+\d+ \S/);
  });

  it("an unrunnable block fails unless it is an exception; an exception for a missing block is stale", async () => {
    const file = doc("other.md", "# O\n```proto\nsyntax = \"proto3\";\n```\n");
    expect(formatProblems(await runDocs([file], env(), [], root))[0]).toMatch(/not a runnable block/);
    const report = await runDocs([file], env(), [
      { file, block: "O#1", reason: "a proto, compiled elsewhere" },
      { file, block: "O#2", reason: "was removed" },
    ], root);
    expect(report.results.map((r) => r.status)).toEqual(["excepted"]);
    expect(formatProblems(report)).toEqual([expect.stringMatching(/exception for other\.md \[O#2\] names no block/)]);
  });
});

describe("the exceptions file", () => {
  it("every block of the docs that is not runnable is listed (checked here without running anything)", () => {
    const exceptions = loadExceptions(exceptionsFile);
    const unlisted = docFiles()
      .flatMap((f) => extractBlocks(f, readFileSync(join(repoRoot, f), "utf8")))
      .filter((b) => classify(b) === "other" && !exceptions.some((e) => e.file === b.file && e.block === b.id))
      .map((b) => `${b.file}:${b.line} [${b.id}]`);
    expect(unlisted).toEqual([]);
  });

  it("has a reason for every entry and names only blocks that exist in checked files", () => {
    const files = docFiles();
    for (const e of loadExceptions(exceptionsFile)) {
      expect(files).toContain(e.file);
      const ids = extractBlocks(e.file, readFileSync(join(repoRoot, e.file), "utf8")).map((b) => b.id);
      expect(ids, `${e.file}: no block [${e.block}]`).toContain(e.block);
    }
  });
});
