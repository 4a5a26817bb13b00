// Every fenced block of README.md, docs/*.md and each published package's
// README runs against the packed tarballs in an empty directory outside the
// repository, or is a listed exception (scripts/doc-snippets.exceptions.json).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { docFiles, exceptionsFile, formatProblems, loadExceptions, prepareEnv, runDocs, summary, tarballsIn } from "./doc-snippets.ts";
import { packAll } from "./pack-packages.ts";

const work = mkdtempSync(join(tmpdir(), "hsu-doc-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it("every block of the docs runs, or is a listed exception", async () => {
  const tarballs = join(work, "tarballs");
  mkdirSync(tarballs);
  await packAll(tarballs);
  const env = await prepareEnv(work, tarballsIn(tarballs));
  const report = await runDocs(docFiles(), env, loadExceptions(exceptionsFile));
  console.log(summary(report));
  expect(formatProblems(report).join("\n\n")).toBe("");
  expect(report.results.filter((r) => r.status === "passed").length).toBeGreaterThan(0);
}, 1_800_000);
