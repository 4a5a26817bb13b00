// `hsu install [unit...]`: fetch, verify and extract the units' `source:` artifacts into the
// store under the state dir, on disk directly (no master needed); `hsu up` and `hsu apply` call
// the same installSources() for what is missing before they start anything.
import { loadDeployment, type Deployment } from "../config/index.ts";
import { checkStateDir } from "../daemon/state-dir.ts";
import { installSources, sourceUnits, type InstallOutcome } from "../artifacts/install.ts";
import { formatDuration, paint, useColor } from "./format.ts";
import { requireSpecFile } from "./spec-file.ts";

type Values = Record<string, string | boolean | undefined>;

/** `hsu install [unit...]`. */
export async function runInstall(values: Values, positionals: string[]): Promise<number> {
  const file = requireSpecFile(String(values.file));
  // A source unit's own program is checked once its tree is there; the rest of the spec must hold now.
  const deployment = await loadDeployment(file);
  checkStateDir(deployment.master.stateDir);
  const color = useColor(process.stderr);
  const outcomes = await installSources(deployment, positionals, { log: values.json ? undefined : (l) => process.stderr.write(`${paint("»", "gray", color)} ${l}\n`) });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(outcomes)}\n`);
    return 0;
  }
  if (!outcomes.length) process.stdout.write(`nothing to install: no unit in ${file} has a source:\n`);
  for (const o of outcomes) process.stdout.write(`${describe(o, useColor())}\n`);
  // Now the trees are there, the checks that waited for them run (a program missing from the artifact).
  if (outcomes.length) await loadDeployment(file);
  return 0;
}

/** "✔ api 1.2.0 installed (sha256 3f2a..., 12582912 bytes, signed by 5AC2...) in 1.2s" */
export function describe(o: InstallOutcome, color: boolean): string {
  const what = o.version ? `${o.unit} ${o.version}` : o.unit;
  if (o.action === "held") return `${paint("✔", "green", color)} ${what}: held here by \`hsu rollback\` (sha256 ${o.sha256.slice(0, 12)}); \`hsu upgrade ${o.unit}\` installs the source again`;
  if (o.action === "current") return `${paint("✔", "green", color)} ${what}: already installed (sha256 ${o.sha256.slice(0, 12)})`;
  const details = [`sha256 ${o.sha256.slice(0, 12)}`, ...(o.bytes !== undefined ? [`${o.bytes} bytes`] : []), ...(o.resumedFrom ? [`resumed at byte ${o.resumedFrom}`] : []), ...(o.keyId ? [`signed by ${o.keyId}`] : [])];
  return `${paint("✔", "green", color)} ${what} ${o.action === "switched" ? "switched to (in the store already)" : "installed"} (${details.join(", ")}) in ${formatDuration(o.ms).replace(/^0s$/, "<1s")}`;
}

/**
 * What `hsu up` and `hsu apply` run first: installs every source unit not yet on its source,
 * then loads the spec again so the checks that waited for the trees run. Without source units
 * it returns `deployment` as it is.
 */
export async function installMissing(deployment: Deployment, file: string, log: (line: string) => void): Promise<Deployment> {
  if (!sourceUnits(deployment).length) return deployment;
  checkStateDir(deployment.master.stateDir);
  const outcomes = await installSources(deployment, undefined, { log });
  if (outcomes.every((o) => o.action === "current" || o.action === "held")) return deployment;
  return loadDeployment(file);
}
