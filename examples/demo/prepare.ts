// Builds the language echo examples the demo runs (once; later runs are
// quick). A language whose toolchain is missing is skipped with a note, and
// its unit then reports the failure when called.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");
const langs = [
  { dir: "echo-go", tool: "go", lang: "go" },
  { dir: "echo-python", tool: "python3", lang: "python" },
  { dir: "echo-rust", tool: "cargo", lang: "rust" },
];
const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;

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
    const cmd = t[step];
    if (!cmd) continue;
    const started = Date.now();
    process.stdout.write(`demo: ${dir}: ${step} (${cmd.join(" ")}) ... `);
    const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
    if (r.status !== 0) {
      console.log("failed");
      console.log(`${r.stdout}${r.stderr}`.trim().split("\n").slice(-15).join("\n"));
      process.exitCode = 1;
      break;
    }
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}
