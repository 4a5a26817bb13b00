import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { inMonorepo } from "./assets.ts";
import { GeneratorError } from "./errors.ts";

/** The HSU npm packages every generated project may depend on, by short name. */
export const sdkPackages = ["proto", "transport", "server", "client"] as const;

/** Where a generated project keeps the SDK tarballs it installs from (relative, so the project moves). */
export const vendorDir = "vendor/hsu";

/** The directory in this package that `prepack` fills with the packed `@hsu/*` tarballs. */
export const bundleDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "sdk");

/**
 * Where the SDK comes from, as asked for: `auto` (the registry when it has
 * `@hsu/*` at this version, else the bundle), `registry`, `bundled` (the
 * tarballs inside create-hsu-unit), or a directory of `pnpm pack` tarballs.
 */
export type SdkChoice = { kind: "auto" } | { kind: "registry" } | { kind: "bundled" } | { kind: "dir"; dir: string };

/** Where the SDK comes from, decided: the registry, or tarballs to copy into the project. */
export type SdkSource = { kind: "registry" } | { kind: "vendor"; from: string; tarballs: Map<string, SdkTarball>; label: string };

/** One `@hsu/*` tarball, e.g. `hsu-server-0.1.0.tgz`. */
export interface SdkTarball {
  file: string;
  version: string;
}

/** npm dependency specs of the HSU packages: `npm.server` etc., plus overrides for tarball installs. */
export interface NpmSpecs {
  /** Spec per short name (`server` -> `0.1.0` or `file:vendor/hsu/hsu-server-0.1.0.tgz`). */
  npm: Record<string, string>;
  /**
   * With vendored tarballs, every one as an npm override, so the SDK's own
   * inter-package dependencies resolve to the tarballs too. Empty for
   * published versions.
   */
  npmOverrides: { name: string; spec: string }[];
}

/** Reads `--sdk` (`bundled`, `registry`, `auto` or a directory) and HSU_SDK_DIR; the flag wins. */
export function parseSdkChoice(flag: string | undefined, envDir: string | undefined, cwd: string): SdkChoice {
  const value = flag ?? (envDir ? envDir : undefined);
  if (value === undefined || value === "auto") return { kind: "auto" };
  if (flag !== undefined && (value === "bundled" || value === "registry")) return { kind: value };
  return { kind: "dir", dir: resolve(cwd, value) };
}

const tarballPattern = /^hsu-([a-z0-9-]+?)-(\d+\.\d+\.\d+[^/]*)\.tgz$/;

/** The `@hsu/*` tarballs in `dir`, by short name (`server`). */
export function listTarballs(dir: string): Map<string, SdkTarball> {
  const out = new Map<string, SdkTarball>();
  if (!existsSync(dir)) return out;
  for (const file of readdirSync(dir).sort()) {
    const match = tarballPattern.exec(file);
    if (match) out.set(match[1]!, { file, version: match[2]! });
  }
  return out;
}

/**
 * The SDK bundled in this package, or undefined in the monorepo: there
 * sdk/ is filled only while `prepack` runs, and a generator running at that
 * moment (a test beside a pack) must not switch to it.
 */
export function bundledSdk(): Map<string, SdkTarball> | undefined {
  if (inMonorepo()) return undefined;
  const tarballs = listTarballs(bundleDir);
  return tarballs.size > 0 ? tarballs : undefined;
}

/** The outcome of asking the user's npm for `@hsu/*` at a version. */
export type ProbeResult = { kind: "found" } | { kind: "missing"; detail: string } | { kind: "unreachable"; detail: string };

/** How long the registry probe may take before the bundle is used instead. */
export const probeDeadlineMs = 15_000;

/**
 * Asks the registry the user's npm uses (their .npmrc, scoped registries and
 * auth apply: it is `npm view`) whether `@hsu/<pkg>@version` exists, for each
 * package, within `deadlineMs`.
 */
export async function probeRegistry(packages: readonly string[], version: string, cwd: string, deadlineMs = probeDeadlineMs): Promise<ProbeResult> {
  const { spawn } = await import("node:child_process");
  const one = (pkg: string) =>
    new Promise<ProbeResult>((done) => {
      const spec = `@hsu/${pkg}@${version}`;
      const child = spawn("npm", ["view", spec, "version"], { cwd, stdio: ["ignore", "pipe", "pipe"], timeout: deadlineMs, killSignal: "SIGKILL" });
      let out = "";
      let err = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
      child.on("error", (cause) => done({ kind: "unreachable", detail: `could not run npm: ${cause.message}` }));
      child.on("close", (code, signal) => {
        const get = /GET (\S+)/.exec(err)?.[1];
        if (signal) return done({ kind: "unreachable", detail: `npm view ${spec} gave no answer within ${deadlineMs / 1000}s` });
        if (code === 0 && out.trim() !== "") return done({ kind: "found" });
        if (code === 0 || /E404|404 Not Found/.test(err)) {
          return done({ kind: "missing", detail: `${spec} is not on ${get ? get.replace(/\/@hsu%2f.*$/i, "/") : "the registry npm uses"}` });
        }
        done({ kind: "unreachable", detail: `npm view ${spec} failed: ${err.trim().split("\n").slice(-3).join(" ")}` });
      });
    });
  const results = await Promise.all(packages.map(one));
  return results.find((r) => r.kind === "missing") ?? results.find((r) => r.kind === "unreachable") ?? { kind: "found" };
}

function vendorFrom(dir: string, label: string): SdkSource {
  const tarballs = listTarballs(dir);
  if (!existsSync(dir)) {
    throw new GeneratorError("usage", `--sdk ${dir}: directory not found. Make it with \`pnpm pack --pack-destination ${dir}\` in each packages/* of the HSU repo.`);
  }
  for (const required of ["proto", "transport", "server"]) {
    if (!tarballs.has(required)) {
      throw new GeneratorError("usage", `--sdk ${dir}: no hsu-${required}-*.tgz in ${dir}. Run \`pnpm pack --pack-destination ${dir}\` in packages/${required} of the HSU repo.`);
    }
  }
  return { kind: "vendor", from: dir, tarballs, label };
}

/** The bundle as a source, or a usage error naming what to do when this copy has none. */
function bundleSource(): SdkSource {
  if (bundledSdk() === undefined) {
    throw new GeneratorError(
      "usage",
      `--sdk bundled: this copy of create-hsu-unit has no bundled SDK (${bundleDir} is empty; it is filled when the package is packed). Pass --sdk DIR with \`pnpm pack\` tarballs of @hsu/*.`,
    );
  }
  return vendorFrom(bundleDir, "the SDK bundled in create-hsu-unit");
}

/**
 * Decides where the SDK comes from. `auto` probes the registry (with a
 * deadline) and falls back to the bundle when `@hsu/*` at `version` is not
 * there or the registry does not answer; without a bundle (running from
 * source) it is the registry.
 */
export async function resolveSdk(choice: SdkChoice, version: string, cwd: string, log: (line: string) => void): Promise<SdkSource> {
  if (choice.kind === "registry") return { kind: "registry" };
  if (choice.kind === "bundled") return bundleSource();
  if (choice.kind === "dir") return vendorFrom(choice.dir, choice.dir);
  if (bundledSdk() === undefined) return { kind: "registry" };
  const probe = await probeRegistry(["proto", "transport", "server"], version, cwd);
  if (probe.kind === "found") return { kind: "registry" };
  log(`${probe.detail}: using the SDK bundled in create-hsu-unit (copied to ${vendorDir}/).`);
  return bundleSource();
}

/** The npm specs a source gives: versions for the registry, relative `file:` tarballs in vendor/hsu otherwise. */
export function npmSpecs(version: string, source: SdkSource): NpmSpecs {
  const npm: Record<string, string> = {};
  if (source.kind === "registry") {
    for (const pkg of sdkPackages) npm[pkg] = version;
    return { npm, npmOverrides: [] };
  }
  for (const [short, tarball] of source.tarballs) npm[short] = `file:${vendorDir}/${tarball.file}`;
  const npmOverrides = Object.entries(npm).map(([short, spec]) => ({ name: `@hsu/${short}`, spec }));
  return { npm, npmOverrides };
}

/** Whether a project's recorded specs point at vendored tarballs. */
export function isVendored(specs: NpmSpecs): boolean {
  return Object.values(specs.npm).some((spec) => spec.startsWith(`file:${vendorDir}/`));
}

/** The version of the vendored SDK a project records (from its `@hsu/server` tarball name). */
export function vendoredVersion(specs: NpmSpecs): string | undefined {
  const spec = specs.npm["server"] ?? Object.values(specs.npm)[0];
  return spec === undefined ? undefined : tarballPattern.exec(spec.slice(spec.lastIndexOf("/") + 1))?.[2];
}

/** Compares two `x.y.z[-pre]` versions numerically on x.y.z (a pre-release sorts before its release). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core = "", pre] = v.split("-", 2);
    return { nums: core.split(".").map((n) => Number.parseInt(n, 10) || 0), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d !== 0) return d;
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

/**
 * Makes `projectDir/vendor/hsu` hold exactly the source's tarballs (removes
 * it for the registry). Returns the project-relative paths written.
 */
export function vendorSdk(projectDir: string, source: SdkSource): string[] {
  const target = join(projectDir, vendorDir);
  rmSync(target, { recursive: true, force: true });
  if (source.kind === "registry") return [];
  mkdirSync(target, { recursive: true });
  const written: string[] = [];
  for (const tarball of source.tarballs.values()) {
    copyFileSync(join(source.from, tarball.file), join(target, tarball.file));
    written.push(`${vendorDir}/${tarball.file}`);
  }
  return written;
}

type PackageJson = Record<string, unknown> & {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  overrides?: Record<string, unknown>;
};

/**
 * Points the `@hsu/*` entries of a project's package.json at `specs`: the
 * ones it depends on and the npm `overrides` (only `@hsu/*` keys are
 * touched; everything else in the file is the user's). Returns whether the
 * file changed.
 */
export function patchPackageJson(projectDir: string, specs: NpmSpecs): boolean {
  const file = join(projectDir, "package.json");
  if (!existsSync(file)) return false;
  const before = readFileSync(file, "utf8");
  const pkg = JSON.parse(before) as PackageJson;
  for (const field of ["dependencies", "devDependencies"] as const) {
    const deps = pkg[field];
    if (!deps) continue;
    for (const name of Object.keys(deps)) {
      const spec = name.startsWith("@hsu/") ? specs.npm[name.slice("@hsu/".length)] : undefined;
      if (spec !== undefined) deps[name] = spec;
    }
  }
  const overrides = Object.fromEntries(Object.entries(pkg.overrides ?? {}).filter(([name]) => !name.startsWith("@hsu/")));
  for (const { name, spec } of specs.npmOverrides) overrides[name] = spec;
  if (Object.keys(overrides).length > 0) pkg.overrides = overrides;
  else delete pkg.overrides;
  const after = JSON.stringify(pkg, null, 2) + "\n";
  if (after === before) return false;
  writeFileSync(file, after);
  return true;
}
