import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { contractProtoFiles, findAssetDirs, googleApiProtoFiles, hsuVersion, type Language } from "./assets.ts";
import { compileProto, compileUserProto, type FileDescriptorJson } from "./buf.ts";
import { buildContext, isContractFile, type TemplateContext, type UnitOptions } from "./context.ts";
import { GeneratorError } from "./errors.ts";
import { loadManifest, type TemplateManifest } from "./manifest.ts";
import { createRenderer, renderTree, type RenderedFile, type RenderFn } from "./render.ts";
import { runCommand } from "./run-command.ts";
import { bundledSdk, compareVersions, isVendored, npmSpecs, patchPackageJson, resolveSdk, vendorDir, vendoredVersion, vendorSdk, type SdkChoice, type SdkSource } from "./sdk.ts";
import { starterProto } from "./starter.ts";
import { formatUnitFile, readUnitFile, unitFileName } from "./unit-file.ts";
import { insertMissingStubs } from "./stubs.ts";

/** Options of `createUnit`: what `create-hsu-unit` asks for or takes as flags. */
export interface CreateUnitOptions {
  /** Kebab-case unit name, e.g. `echo-unit`. */
  name: string;
  language: Language;
  /** The user's .proto; undefined for the built-in starter proto. */
  protoFile?: string;
  /** Target directory (created if missing). */
  dir: string;
  /** Overwrite existing files instead of refusing. */
  force?: boolean;
  /** Run the template's install/generate commands (default true). */
  generate?: boolean;
  /**
   * Where a TypeScript unit gets `@hsu/*` (default auto: the registry when it
   * has them, else the SDK bundled in this package). Tarballs are copied to
   * the project's vendor/hsu/.
   */
  sdk?: SdkChoice;
  /** Shorthand for `sdk: { kind: "dir", dir }`: a directory of `pnpm pack` tarballs. */
  sdkDir?: string;
  /** Go module path (default `example.com/<name>`). */
  goModule?: string;
  /** Base for relative paths (default `process.cwd()`). */
  cwd?: string;
  /** Where progress lines go (default: stdout). */
  log?: (line: string) => void;
  /** Whether template commands show their output (default "inherit"). */
  stdio?: "inherit" | "pipe";
}

/** What a create or regen did. */
export interface GenerateResult {
  dir: string;
  manifest: TemplateManifest;
  context: TemplateContext;
  /** Project-relative paths written. */
  written: string[];
  /** `Service.Method` names that got a new stub (regen). */
  stubsAdded: string[];
  /** Project-relative implementation file of each service, in `context.services` order. */
  implFiles: string[];
}

const unitNamePattern = /^[a-z][a-z0-9-]{0,62}$/;

/** Rejects names that cannot be a unit id, a package and a directory at once. */
export function checkUnitName(name: string): void {
  if (!unitNamePattern.test(name) || name.endsWith("-") || name.includes("--")) {
    throw new GeneratorError(
      "usage",
      `unit name "${name}" is not valid: use kebab-case, a lowercase letter first, then letters, digits and single dashes (at most 63), e.g. "echo-unit".`,
    );
  }
}

interface UserProto {
  /** Files to place under the project's proto/, by path relative to proto/. */
  files: Map<string, string>;
  descriptors: FileDescriptorJson[];
  /** How to name each file (by its path under proto/) in an error: the path the user gave or knows. */
  shownAs: Map<string, string>;
}

/**
 * Compiles the user's proto (or the starter) and decides where it goes under
 * proto/: at its package path when it imports nothing local, otherwise with
 * its imports at their original relative paths so imports still resolve.
 */
function loadUserProto(protoFile: string | undefined, name: string, cwd: string): UserProto {
  if (protoFile === undefined) {
    const starter = starterProto(name);
    const tmp = mkdtempSync(join(tmpdir(), "hsu-starter-"));
    try {
      mkdirSync(join(tmp, dirname(starter.path)), { recursive: true });
      writeFileSync(join(tmp, starter.path), starter.text);
      const descriptors = compileProto(tmp, cwd);
      return { files: new Map([[starter.path, starter.text]]), descriptors, shownAs: new Map() };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const abs = resolve(cwd, protoFile);
  if (!existsSync(abs)) throw new GeneratorError("usage", `--proto ${protoFile}: file not found (looked at ${abs}).`);
  const descriptors = compileUserProto(protoFile, cwd, findAssetDirs().proto);
  // buf names the file relative to its module root: the file's own directory,
  // or an enclosing buf.yaml module.
  const main = descriptors
    .filter((d) => abs === resolve("/", d.name) || abs.endsWith(`/${d.name}`))
    .sort((a, b) => b.name.length - a.name.length)[0];
  // The google/api annotations come with every project: importing them does not move the file.
  const local = descriptors.filter((d) => !d.name.startsWith("google/protobuf/") && !googleApiProtoFiles.includes(d.name) && d !== main);
  if (main === undefined) throw new GeneratorError("bad_proto", `${protoFile}: buf did not report the file itself.`);
  if (local.length === 0) {
    const pkgPath = main.package ? main.package.replace(/\./g, "/") + "/" : "";
    const path = pkgPath + basename(main.name);
    return { files: new Map([[path, readFileSync(abs, "utf8")]]), descriptors: [{ ...main, name: path }], shownAs: new Map([[path, protoFile]]) };
  }
  const root = abs.slice(0, abs.length - main.name.length);
  const files = new Map<string, string>();
  for (const d of [main, ...local]) {
    if (isContractFile(d.name)) continue;
    files.set(d.name, readFileSync(join(root, d.name), "utf8"));
  }
  const shownAs = new Map([...files.keys()].map((name) => [name, relative(cwd, join(root, name))]));
  return { files, descriptors: [main, ...local], shownAs };
}

function readTextIfAny(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, "utf8") : undefined;
}

function templateDirFor(language: string): string {
  return join(findAssetDirs().templates, language);
}

/**
 * The tool-owned files of every language: templates/<lang>/regen/ plus
 * templates/common/regen/ (e.g. scripts/package.sh), which a language's own
 * file of the same path overrides.
 */
function renderRegenTrees(templateDir: string, render: RenderFn, context: TemplateContext): RenderedFile[] {
  const own = existsSync(join(templateDir, "regen")) ? renderTree(join(templateDir, "regen"), render, context) : [];
  const paths = new Set(own.map((f) => f.path));
  const common = renderTree(join(findAssetDirs().templates, "common", "regen"), render, context).filter((f) => !paths.has(f.path));
  return [...common, ...own];
}

/** A renderer with the template's method-stub.hbs as the `methodStub` partial. */
function rendererFor(templateDir: string): Promise<RenderFn> {
  const stub = join(templateDir, "method-stub.hbs");
  return createRenderer(existsSync(stub) ? { methodStub: readFileSync(stub, "utf8") } : {});
}

/** The HSU contract protos, keyed by their path under proto/. */
function contractFiles(): RenderedFile[] {
  const protoDir = findAssetDirs().proto;
  return contractProtoFiles.map((file) => ({ path: `proto/${file}`, content: readFileSync(join(protoDir, file)) }));
}

function renderServiceFiles(
  templateDir: string,
  manifest: TemplateManifest,
  render: RenderFn,
  context: TemplateContext,
): RenderedFile[] {
  const serviceTemplate = readFileSync(join(templateDir, "service.hbs"), "utf8");
  return context.services.map((service) => {
    const data = { ...context, service };
    return { path: render(manifest.implFile, data), content: render(serviceTemplate, data) };
  });
}

function writeFiles(dir: string, files: RenderedFile[]): string[] {
  for (const file of files) {
    const target = join(dir, file.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.content);
  }
  return files.map((f) => f.path);
}

/** What the user can do after a failed step, for create or regen. */
interface Recovery {
  /** Always: how to retry once the cause is fixed. */
  retry: string;
  /** When npm could not get `@hsu/*`: how to use tarballs instead. */
  sdk: string;
}

function recoveryFor(command: "create" | "regen", dir: string): Recovery {
  const how = bundledSdk() !== undefined ? "--sdk bundled" : "--sdk DIR (DIR holding `pnpm pack` tarballs of @hsu/proto, @hsu/transport and @hsu/server)";
  return command === "create"
    ? {
        retry: `Fix the cause, then run \`create-hsu-unit regen\` in ${dir} the way you ran create-hsu-unit (e.g. \`npx create-hsu-unit regen --dir ${dir}\`): it reruns install and generate.`,
        sdk: `Run the same create-hsu-unit command again with ${how} --force: the project then installs @hsu/* from tarballs in its ${vendorDir}/.`,
      }
    : {
        retry: `Fix the cause, then run \`create-hsu-unit regen\` again in ${dir}.`,
        sdk: `Run \`create-hsu-unit regen ${how}\` in ${dir}: the project then installs @hsu/* from tarballs in its ${vendorDir}/.`,
      };
}

interface RunSteps {
  stdio: "inherit" | "pipe";
  log?: (line: string) => void;
  recovery: Recovery;
}

async function runGenerate(dir: string, manifest: TemplateManifest, steps: RunSteps) {
  const sink = steps.log ? lineSink(steps.log) : undefined;
  const common = { cwd: dir, env: manifest.env, stdio: steps.stdio, sink };
  const recovery = steps.recovery.retry;
  if (manifest.install) {
    await runCommand(manifest.install, { ...common, step: "install", recovery, onMissingSdk: steps.recovery.sdk });
  }
  await runCommand(manifest.generate, { ...common, step: "generate", recovery, onMissingSdk: steps.recovery.sdk });
}

/** Progress through a caller's line logger (programmatic use, tests): never a terminal. */
function lineSink(log: (line: string) => void) {
  let partial = "";
  return {
    isTTY: false,
    write(text: string) {
      const parts = (partial + text).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) log(line);
    },
  };
}

/** The SDK a new unit uses: only a TypeScript unit installs @hsu/* from npm. */
async function sdkFor(options: CreateUnitOptions, version: string, cwd: string, log: (line: string) => void): Promise<SdkSource> {
  if (options.language !== "ts") return { kind: "registry" };
  const choice: SdkChoice = options.sdk ?? (options.sdkDir !== undefined ? { kind: "dir", dir: resolve(cwd, options.sdkDir) } : { kind: "auto" });
  return resolveSdk(choice, version, cwd, log);
}

/**
 * Creates a new unit project: copies the proto and HSU's contracts, renders
 * the template's project/, one implementation file per service and regen/,
 * records the options in hsu-unit.json, then runs the template's generate.
 * Refuses to overwrite any existing file unless `force`.
 */
export async function createUnit(options: CreateUnitOptions): Promise<GenerateResult> {
  const cwd = options.cwd ?? process.cwd();
  const log = options.log ?? ((line: string) => console.log(line));
  checkUnitName(options.name);
  const templateDir = templateDirFor(options.language);
  const manifest = loadManifest(templateDir);
  const userProto = loadUserProto(options.protoFile, options.name, cwd);
  const version = hsuVersion();
  const sdk = await sdkFor(options, version, cwd, log);
  const unitOptions: UnitOptions = {
    name: options.name,
    language: options.language,
    hsuVersion: version,
    goModule: options.goModule ?? `example.com/${options.name}`,
    pyPackage: options.name.replace(/-/g, "_"),
    crateName: options.name.replace(/-/g, "_"),
    ...npmSpecs(version, sdk),
  };
  const context = buildContext(userProto.descriptors, unitOptions, {
    text: (file) => userProto.files.get(file),
    display: (file) => userProto.shownAs.get(file) ?? file,
  });
  const render = await rendererFor(templateDir);
  const files: RenderedFile[] = [
    ...[...userProto.files].map(([path, content]) => ({ path: `proto/${path}`, content })),
    ...contractFiles(),
    ...renderTree(join(templateDir, "project"), render, context),
    ...renderServiceFiles(templateDir, manifest, render, context),
    ...renderRegenTrees(templateDir, render, context),
    { path: unitFileName, content: formatUnitFile(unitOptions) },
  ];
  const dir = resolve(cwd, options.dir);
  const vendored = sdk.kind === "vendor" ? [...sdk.tarballs.values()].map((t) => `${vendorDir}/${t.file}`) : [];
  const clashes = [...files.map((f) => f.path), ...vendored].filter((p) => existsSync(join(dir, p)));
  if (clashes.length > 0 && !options.force) {
    throw new GeneratorError(
      "clash",
      `${dir} already has ${clashes.length} of the files to write:\n${clashes.map((c) => `  ${c}`).join("\n")}\nChoose another --dir, or pass --force to overwrite them.`,
    );
  }
  const written = [...writeFiles(dir, files), ...vendorSdk(dir, sdk)];
  if (options.generate !== false) {
    await runGenerate(dir, manifest, { stdio: options.stdio ?? "pipe", log: options.log, recovery: recoveryFor("create", dir) });
  }
  const implFiles = context.services.map((service) => render(manifest.implFile, { ...context, service }));
  return { dir, manifest, context, written, stubsAdded: [], implFiles };
}

/** Options of `regenUnit`. */
export interface RegenUnitOptions {
  /** The project dir (holds hsu-unit.json). */
  dir: string;
  generate?: boolean;
  /** Switch a TypeScript unit's SDK (`--sdk`); without it a vendored SDK is refreshed from a newer bundle. */
  sdk?: SdkChoice;
  log?: (line: string) => void;
  stdio?: "inherit" | "pipe";
}

/**
 * The SDK source regen moves a project to, or undefined to leave it: the
 * one asked for, else this tool's bundle when the project vendors an older
 * SDK (or has lost its tarballs).
 */
async function regenSdk(dir: string, unitOptions: UnitOptions, choice: SdkChoice | undefined, log: (line: string) => void): Promise<SdkSource | undefined> {
  if (unitOptions.language !== "ts") return undefined;
  if (choice !== undefined && choice.kind !== "auto") return resolveSdk(choice, hsuVersion(), dir, log);
  const bundle = bundledSdk();
  if (!isVendored(unitOptions) || bundle === undefined) return undefined;
  const have = vendoredVersion(unitOptions);
  const offered = bundle.get("server")?.version;
  const complete = Object.values(unitOptions.npm).every((spec) => existsSync(join(dir, spec.replace(/^file:/, ""))));
  if (offered === undefined || (have !== undefined && compareVersions(offered, have) < 0) || (have === offered && complete)) return undefined;
  log(`Refreshing ${vendorDir}/ with the SDK bundled in create-hsu-unit (${have ?? "none"} -> ${offered}).`);
  return resolveSdk({ kind: "bundled" }, hsuVersion(), dir, log);
}

/**
 * Brings a project up to date with its proto: re-renders regen/** and the
 * contract protos, adds an implementation file for each new service and a
 * stub for each new RPC (user code is never rewritten), then runs generate.
 */
export async function regenUnit(options: RegenUnitOptions): Promise<GenerateResult> {
  const dir = resolve(options.dir);
  const log = options.log ?? ((line: string) => console.log(line));
  const recorded = readUnitFile(dir);
  const sdk = await regenSdk(dir, recorded, options.sdk, log);
  const unitOptions: UnitOptions = sdk ? { ...recorded, ...npmSpecs(hsuVersion(), sdk) } : recorded;
  const sdkFiles: string[] = [];
  if (sdk) {
    sdkFiles.push(...vendorSdk(dir, sdk));
    if (patchPackageJson(dir, unitOptions)) sdkFiles.push("package.json");
    writeFileSync(join(dir, unitFileName), formatUnitFile(unitOptions));
    sdkFiles.push(unitFileName);
  }
  const templateDir = templateDirFor(unitOptions.language);
  const manifest = loadManifest(templateDir);
  // The contracts first: a project made before a shipped file existed (google/api) gets it before its protos import it.
  const written = [...sdkFiles, ...writeFiles(dir, contractFiles())];
  const descriptors = compileProto("proto", dir);
  const context = buildContext(descriptors, unitOptions, {
    text: (file) => readTextIfAny(join(dir, "proto", file)),
    display: (file) => `proto/${file}`,
  });
  const render = await rendererFor(templateDir);
  written.push(...writeFiles(dir, renderRegenTrees(templateDir, render, context)));
  const stubsAdded: string[] = [];
  for (const file of renderServiceFiles(templateDir, manifest, render, context)) {
    if (!existsSync(join(dir, file.path))) {
      written.push(...writeFiles(dir, [file]));
      const service = context.services.find((s) => render(manifest.implFile, { ...context, service: s }) === file.path);
      stubsAdded.push(...(service?.methods.map((m) => `${service.name}.${m.name}`) ?? []));
    }
  }
  const methodStub = readFileSync(join(templateDir, "method-stub.hbs"), "utf8");
  for (const service of context.services) {
    const added = insertMissingStubs({ dir, manifest, render, context, service, methodStub });
    if (added.length > 0) written.push(render(manifest.implFile, { ...context, service }));
    stubsAdded.push(...added.map((m) => `${service.name}.${m}`));
  }
  if (options.generate !== false) {
    await runGenerate(dir, manifest, { stdio: options.stdio ?? "pipe", log: options.log, recovery: recoveryFor("regen", dir) });
  }
  const implFiles = context.services.map((service) => render(manifest.implFile, { ...context, service }));
  return { dir, manifest, context, written: [...new Set(written)], stubsAdded: [...new Set(stubsAdded)], implFiles };
}
