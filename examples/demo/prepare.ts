// Builds the language echo examples the demo runs (once; later runs are
// quick), each step with progress (src/build-step.ts). A language whose
// toolchain is missing is skipped with a note, and its unit then reports the
// failure when called.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runStep } from "./src/build-step.ts";

const root = join(import.meta.dirname, "..", "..");
const langs = [
  { dir: "echo-go", tool: "go", lang: "go" },
  { dir: "echo-python", tool: "python3", lang: "python" },
  { dir: "echo-rust", tool: "cargo", lang: "rust" },
];
const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;

const began = Date.now();
const summary: string[] = [];
for (const { dir, tool, lang } of langs) {
  const cwd = join(root, "examples", dir);
  const manifest = join(root, "templates", lang, "template.json");
  if (!existsSync(cwd) || !existsSync(manifest)) {
    console.log(`demo: skipping ${dir}: not in this checkout`);
    continue;
  }
  if (!has(tool)) {
    console.log(`demo: skipping ${dir}: \`${tool}\` is not installed`);
    continue;
  }
  const t = JSON.parse(readFileSync(manifest, "utf8")) as Record<string, string[] | undefined>;
  for (const step of ["install", "build"] as const) {
    const command = t[step];
    if (!command) continue;
    const r = await runStep({ label: `${dir}: ${step}`, command, cwd, where: `examples/${dir}` });
    summary.push(`${dir} ${step} ${r.ok ? "" : "FAILED "}${(r.ms / 1000).toFixed(1)} s`);
    if (!r.ok) {
      process.exitCode = 1;
      break;
    }
  }
}
if (summary.length) console.log(`demo: builds ${process.exitCode ? "FAILED" : "done"} in ${((Date.now() - began) / 1000).toFixed(1)} s (${summary.join(", ")})`);
