import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// src/ and dist/ both sit one level below the package root.
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repoRoot = resolve(packageRoot, "../..");

/**
 * The google.api HTTP annotations (vendored from googleapis) that a unit's
 * proto may import for a REST gateway, relative to `proto/`: shipped with the
 * tool, so the import resolves without a copy of googleapis. Each language
 * takes their code from its usual library or generates it (templates' READMEs).
 */
export const googleApiProtoFiles: readonly string[] = ["google/api/annotations.proto", "google/api/http.proto"];

/** The HSU contract files (and the google.api annotations) every generated project gets a copy of, relative to `proto/`. */
export const contractProtoFiles: readonly string[] = [
  "hsu/core/v1/core.proto",
  "hsu/master/v1/registration.proto",
  "grpc/health/v1/health.proto",
  "grpc/reflection/v1/reflection.proto",
  ...googleApiProtoFiles,
];

/**
 * Where the templates and HSU's protos are. A packed package carries its own
 * copies (made by `prepack`); in the monorepo they are read from the repo, so
 * editing a template needs no copy step.
 */
export interface AssetDirs {
  templates: string;
  proto: string;
}

/**
 * True when this copy runs inside the HSU monorepo (from src/ or dist/ of
 * packages/create-hsu-unit), not from an installed package. There the
 * package's own templates/, proto/ and sdk/ exist only while `prepack` runs,
 * so nothing may depend on them: another process may be packing right now.
 */
export function inMonorepo(): boolean {
  return (
    resolve(repoRoot, "packages/create-hsu-unit") === packageRoot &&
    existsSync(join(repoRoot, "pnpm-workspace.yaml")) &&
    existsSync(join(repoRoot, "templates"))
  );
}

/** Finds the asset directories, preferring the monorepo's when running from source. */
export function findAssetDirs(): AssetDirs {
  const base = inMonorepo() ? repoRoot : packageRoot;
  return { templates: join(base, "templates"), proto: join(base, "proto") };
}

/** The HSU SDK version the generated projects depend on (this package's version). */
export function hsuVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

/** The languages that have a template, in a stable order. */
export const languages = ["go", "python", "rust", "ts"] as const;

/** A language create-hsu-unit can emit. */
export type Language = (typeof languages)[number];

/** Whether `value` names a known language. */
export function isLanguage(value: string): value is Language {
  return (languages as readonly string[]).includes(value);
}
