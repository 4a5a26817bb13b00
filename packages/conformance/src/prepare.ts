import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { acquireLock } from "./lock.ts";
import { cacheDir, repoRoot } from "./paths.ts";
import { runOk } from "./run.ts";
import { buildSdkTarballs } from "./sdk.ts";

/** A language the suite checks: a template name, or `python-binary` (the Nuitka build). */
export type ConformanceLanguage = "go" | "python" | "python-binary" | "rust" | "ts";

/** The part of templates/<lang>/template.json the suite uses. */
export interface Manifest {
  language: string;
  implFile: string;
  build: string[];
  run: string[];
  test: string[];
  binary?: string[];
  binaryRun?: string[];
  env?: Record<string, string>;
}

/** A unit generated from scratch, completed from its example, built, ready to launch. */
export interface PreparedUnit {
  language: ConformanceLanguage;
  /** The unit's name (from the example's hsu-unit.json). */
  name: string;
  /** The generated project. */
  dir: string;
  manifest: Manifest;
  /** What a master runs: argv, relative to `dir`. */
  command: string[];
  env: Record<string, string>;
  /** The example it was completed from. */
  exampleDir: string;
  /** The example's hand-written files (hsu-example.json `userFiles`). */
  userFiles: string[];
  /** Lets another run use the build dir (call when done with the unit). */
  release?: () => void;
}

/** Which template and example a conformance language uses. */
export function templateOf(language: ConformanceLanguage): string {
  return language === "python-binary" ? "python" : language;
}

// Kept between runs so rebuilding is incremental: build caches, not sources.
const keptBetweenRuns = new Set(["target", ".venv", "build"]);
const echoProto = join(repoRoot, "examples/echo/proto/hsu/examples/echo/v1/echo.proto");
const cli = join(repoRoot, "packages/create-hsu-unit/src/cli.ts");

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, "utf8")) as T;
}

/**
 * Generates a unit FROM SCRATCH with the create-hsu-unit CLI (its own
 * install + generate steps included) into `.cache/conformance/<lang>/`,
 * overlays the hand-written files of examples/echo-<lang>, and builds it.
 */
export async function prepareUnit(language: ConformanceLanguage, lockTimeoutMs = 60 * 60_000): Promise<PreparedUnit> {
  const template = templateOf(language);
  const manifestFile = join(repoRoot, "templates", template, "template.json");
  if (!existsSync(manifestFile)) throw new Error(`${manifestFile} does not exist: the ${template} template is not written yet`);
  const manifest = readJson<Manifest>(manifestFile);
  const exampleDir = join(repoRoot, "examples", `echo-${template}`);
  const exampleUnit = join(exampleDir, "hsu-unit.json");
  if (!existsSync(exampleUnit)) throw new Error(`${exampleUnit} does not exist: examples/echo-${template} was not generated yet`);
  const { name, goModule } = readJson<{ name: string; goModule?: string }>(exampleUnit);
  const { userFiles } = readJson<{ userFiles: string[] }>(join(exampleDir, "hsu-example.json"));

  const dir = cacheDir("conformance", template, "unit");
  const release = await acquireLock(join(dirname(dir), "lock"), lockTimeoutMs);
  try {
    return await generateAndBuild(language, dir, { manifest, manifestFile, exampleDir, name, goModule, userFiles, release });
  } catch (e) {
    release();
    throw e;
  }
}

async function generateAndBuild(
  language: ConformanceLanguage,
  dir: string,
  found: { manifest: Manifest; manifestFile: string; exampleDir: string; name: string; goModule?: string; userFiles: string[]; release: () => void },
): Promise<PreparedUnit> {
  const { manifest, manifestFile, exampleDir, name, goModule, userFiles, release } = found;
  const template = templateOf(language);
  for (const entry of readdirSync(dir)) {
    if (!keptBetweenRuns.has(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
  }
  const args = ["--lang", template, "--name", name, "--proto", echoProto, "--dir", dir, "--yes"];
  if (goModule) args.push("--go-module", goModule);
  if (template === "ts") args.push("--sdk", await buildSdkTarballs());
  await runOk("create-hsu-unit", [process.execPath, "--conditions=@hsu/source", cli, ...args], { cwd: repoRoot });
  for (const file of userFiles) {
    if (file.endsWith("/")) throw new Error(`${exampleDir}/hsu-example.json: folder entries (${file}) are not supported by the suite`);
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(exampleDir, file), join(dir, file));
  }
  const env = manifest.env ?? {};
  await runOk(`${template} build`, manifest.build, { cwd: dir, env });
  let command = manifest.run;
  if (language === "python-binary") {
    if (!manifest.binary || !manifest.binaryRun) throw new Error(`${manifestFile}: no "binary"/"binaryRun" commands`);
    await runOk("python binary build", manifest.binary, { cwd: dir, env });
    command = manifest.binaryRun;
  }
  return { language, name, dir, manifest, command, env, exampleDir, userFiles, release };
}
