import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { acquireLock } from "./lock.ts";
import { cacheDir, repoRoot } from "./paths.ts";
import { runOk } from "./run.ts";
import { buildSdkTarballs } from "./sdk.ts";
import { seedCargoTarget } from "./cargo-cache.ts";

/** The proto corpus: one entry file that imports every other case. */
export const corpusDir = join(repoRoot, "packages/conformance/corpus");
export const corpusEntry = join(corpusDir, "corpus.proto");
/** Protos the generator must refuse before writing anything (one folder per case). */
export const corpusErrorsDir = join(repoRoot, "packages/conformance/corpus-errors");

export type CorpusLanguage = "go" | "python" | "rust" | "ts";

/** One RPC of the corpus, by the names a gRPC client uses. */
export interface CorpusRpc {
  service: string;
  method: string;
  clientStreaming: boolean;
  serverStreaming: boolean;
}

/** A corpus unit, generated and built, ready to be started. */
export interface CorpusUnit {
  language: CorpusLanguage;
  dir: string;
  /** argv a master runs, in `dir`. */
  command: string[];
  release: () => void;
}

const cli = join(repoRoot, "packages/create-hsu-unit/src/cli.ts");
const buf = join(repoRoot, "node_modules/.bin/buf");
// Build caches kept between runs (sources are generated anew each time).
const kept = new Set(["target", ".venv", "node_modules"]);

interface ServiceJson {
  name: string;
  method?: { name: string; clientStreaming?: boolean; serverStreaming?: boolean }[];
}

/** Every RPC of the corpus's own files (not the well-known types), compiled by buf. */
export async function corpusRpcs(): Promise<CorpusRpc[]> {
  const out = await runOk("buf build corpus", [buf, "build", corpusEntry, "--exclude-source-info", "-o", "-#format=json"], {
    cwd: repoRoot,
    keep: 10_000_000,
  });
  const set = JSON.parse(out) as { file: { name: string; package?: string; service?: ServiceJson[] }[] };
  return set.file
    .filter((f) => !f.name.startsWith("google/"))
    .flatMap((f) =>
      (f.service ?? []).flatMap((s) =>
        (s.method ?? []).map((m) => ({
          service: f.package ? `${f.package}.${s.name}` : s.name,
          method: m.name,
          clientStreaming: m.clientStreaming === true,
          serverStreaming: m.serverStreaming === true,
        })),
      ),
    );
}

interface Manifest {
  build: string[];
  run: string[];
  env?: Record<string, string>;
}

/**
 * Generates a unit from the corpus with the real create-hsu-unit CLI into
 * `.cache/conformance/corpus/<lang>/unit` (build caches survive between
 * runs; Go and npm use their user-wide caches) and builds it. A lock per
 * language lets two runs take turns on the directory.
 */
export async function prepareCorpusUnit(language: CorpusLanguage, lockTimeoutMs: number): Promise<CorpusUnit> {
  const manifest = JSON.parse(readFileSync(join(repoRoot, "templates", language, "template.json"), "utf8")) as Manifest;
  const dir = cacheDir("conformance", "corpus", language, "unit");
  const release = await acquireLock(join(dirname(dir), "lock"), lockTimeoutMs);
  try {
    for (const entry of readdirSync(dir)) if (!kept.has(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
    if (language === "rust") await seedCargoTarget(join(dir, "target"), lockTimeoutMs);
    const args = ["--lang", language, "--name", "corpus-unit", "--proto", corpusEntry, "--dir", dir, "--yes", "--force"];
    if (language === "ts") args.push("--sdk", await buildSdkTarballs());
    await runOk(`create-hsu-unit (${language}, corpus)`, [process.execPath, "--conditions=@hsu/source", cli, ...args], { cwd: repoRoot });
    await runOk(`${language} build (corpus)`, manifest.build, { cwd: dir, env: manifest.env });
    return { language, dir, command: manifest.run, release };
  } catch (e) {
    release();
    throw e;
  }
}
