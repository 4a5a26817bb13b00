// `hsu apply`, `validate` and `schema`: the commands that read hsu.yaml whole, through the one config loader.
import { readFileSync } from "node:fs";
import { deploymentJsonSchema, loadDeployment, SpecError } from "../config/index.ts";
import { connect as client, requireSpecFile } from "./client.ts";
import { paint, useColor } from "./color.ts";

type Values = Record<string, string | boolean | undefined>;

/** `hsu apply [--dry-run]`. */
export async function runApply(values: Values): Promise<number> {
  const path = requireSpecFile(String(values.file));
  const loaded = await loadDeployment(path); // every error, with lines, before the master sees it
  const dry = !!values["dry-run"];
  if (!dry) {
    // The master restarts a unit whose source changed: its new tree must be there first.
    const { installMissing } = await import("./install-command.ts");
    await installMissing(loaded, path, (line) => process.stderr.write(`hsu » ${line}\n`));
  }
  const { c } = await client(values);
  const res = await c.apply({ specYaml: readFileSync(path, "utf8"), fileName: path, dryRun: dry });
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ dryRun: dry, added: res.added, removed: res.removed, changed: res.changed, unchanged: res.unchanged })}\n`);
    return 0;
  }
  const color = useColor();
  const rows = [
    [dry ? "would add" : "added", res.added, "green"],
    [dry ? "would stop" : "removed", res.removed, "red"],
    [dry ? "would restart" : "restarted", res.changed, "yellow"],
    ["unchanged", res.unchanged, "gray"],
  ] as const;
  for (const [label, ids, col] of rows) if (ids.length) process.stdout.write(`${paint(label.padEnd(dry ? 13 : 10), col, color)} ${ids.join(", ")}\n`);
  if (!res.added.length && !res.removed.length && !res.changed.length) process.stdout.write(`nothing to do: the master already runs ${path} as written\n`);
  else if (dry) process.stdout.write(`${paint("dry run: nothing was changed; run `hsu apply` to do it", "gray", color)}\n`);
  return 0;
}

/** `hsu validate`. */
export async function runValidate(values: Values): Promise<number> {
  try {
    const d = await loadDeployment(requireSpecFile(String(values.file)));
    const n = Object.keys(d.units).length;
    const color = useColor();
    process.stdout.write(values.json ? `${JSON.stringify({ valid: true, units: Object.keys(d.units) })}\n` : `${paint("✔", "green", color)} ${values.file}: valid (${n} unit${n === 1 ? "" : "s"})\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    if (values.json) process.stdout.write(`${JSON.stringify({ valid: false, issues: e.issues })}\n`);
    // "hsu.yaml: 2 problems in hsu.yaml:" names the file twice.
    else process.stderr.write(`${paint("✘", "red", useColor(process.stderr))} ${e.message.replace(/^(\S+): (\d+ problems? in \1)/, "$2")}\n`);
    return 1;
  }
}

/** `hsu schema`. */
export async function runSchema(): Promise<number> {
  process.stdout.write(`${JSON.stringify(deploymentJsonSchema(), null, 2)}\n`);
  return 0;
}
