import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { findAssetDirs } from "./assets.ts";
import { bufBinary, withUserProto } from "./buf.ts";
import { buildContext, type ServiceContext, type UnitOptions } from "./context.ts";
import { GeneratorError } from "./errors.ts";
import { createRenderer, renderTree } from "./render.ts";
import { unitFileName } from "./unit-file.ts";

const require = createRequire(import.meta.url);

/** The file in a master's project that records the clients `create-hsu-unit client` made, for `regen`. */
export const clientsFileName = "hsu-clients.json";

/** One generated client: the proto it comes from and where it went, both relative to the project. */
export interface ClientRecord {
  proto: string;
  out: string;
}

/** Options of {@link createUnitClient}. */
export interface CreateClientOptions {
  /** The unit's .proto (its local imports are found from its directory or an enclosing buf.yaml). */
  proto: string;
  /** The master's project directory, where hsu-clients.json goes (default `cwd`). */
  dir?: string;
  /** Where the client goes, relative to `dir` (default `hsu-clients/<proto name>`). */
  out?: string;
  /** Base for relative paths (default `process.cwd()`). */
  cwd?: string;
}

/** What a client generation wrote. */
export interface ClientResult {
  /** The project directory. */
  dir: string;
  record: ClientRecord;
  /** `package.Service` of every service that got a typed client. */
  services: string[];
  /** The client function of each service, in `services` order (e.g. `echoServiceClient`). */
  functions: string[];
}

const posix = (p: string) => p.split(sep).join("/");

/**
 * Generates a typed TypeScript client for a unit's proto into a master's
 * project: protobuf-es code (`_pb.js` with `.d.ts`, so plain `node` and
 * `tsc` both take it) under `<out>/gen/`, and `<out>/index.js` exporting
 * `connectMaster` and one `<service>Client(master, unitId)` per service,
 * which calls the unit through the running hsu master. Records the proto
 * in hsu-clients.json so `create-hsu-unit regen` brings it up to date.
 */
export async function createUnitClient(options: CreateClientOptions): Promise<ClientResult> {
  const cwd = options.cwd ?? process.cwd();
  const dir = resolve(cwd, options.dir ?? ".");
  const proto = resolve(cwd, options.proto);
  if (!existsSync(proto)) throw new GeneratorError("usage", `--proto ${options.proto}: file not found (looked at ${proto}).`);
  const out = options.out ?? `hsu-clients/${basename(proto).replace(/\.proto$/, "")}`;
  const record: ClientRecord = { proto: posix(relative(dir, proto)), out: posix(out) };
  const result = await generateClient(dir, record);
  const records = readClientsFile(dir).filter((r) => r.out !== record.out);
  writeClientsFile(dir, [...records, record]);
  return result;
}

/** Re-generates every client hsu-clients.json in `dir` names, from its proto as it is now. */
export async function regenClients(dir: string): Promise<ClientResult[]> {
  const results: ClientResult[] = [];
  for (const record of readClientsFile(dir)) results.push(await generateClient(dir, record));
  return results;
}

/** True when `dir` has clients made by `create-hsu-unit client`. */
export const hasClients = (dir: string): boolean => existsSync(join(dir, clientsFileName));

async function generateClient(dir: string, record: ClientRecord): Promise<ClientResult> {
  const proto = resolve(dir, record.proto);
  if (!existsSync(proto)) {
    throw new GeneratorError("not_a_project", `${join(dir, clientsFileName)}: the client in ${record.out} comes from ${record.proto}, which is gone (looked at ${proto}); fix the path there, or run \`create-hsu-unit client --proto NEW --out ${record.out}\`.`);
  }
  const outDir = resolve(dir, record.out);
  // A proto importing google/api without a copy beside it compiles against the shipped one.
  const context = withUserProto(proto, dir, findAssetDirs().proto, (compiled) => {
    // Only the options buildContext copies through; a client has no unit options.
    const context = buildContext(compiled.files, {} as UnitOptions);
    if (context.services.length === 0) throw new GeneratorError("bad_proto", `${record.proto} (and what it imports) declares no service: there is nothing to call.`);
    bufGenerate(compiled.input, join(outDir, "gen"), compiled.cwd);
    return context;
  });
  const render = await createRenderer();
  const services = context.services.map((s) => ({ ...s, clientFunction: clientFunction(s) }));
  const data = { proto: record.proto, protoFiles: [...new Set(services.map((s) => s.protoStem))], services };
  for (const file of renderTree(join(findAssetDirs().templates, "client"), render, data)) {
    mkdirSync(dirname(join(outDir, file.path)), { recursive: true });
    writeFileSync(join(outDir, file.path), file.content);
  }
  return { dir, record, services: context.services.map((s) => s.fullName), functions: context.services.map(clientFunction) };
}

/** The name index.js gives a service's client function: the service name in lowerCamelCase, then `Client` (`EchoService` -> `echoServiceClient`). */
function clientFunction(service: ServiceContext): string {
  return service.name.charAt(0).toLowerCase() + service.name.slice(1) + "Client";
}

/** Runs buf with create-hsu-unit's own protoc-gen-es: JavaScript with declarations, imports with `.js`. */
function bufGenerate(proto: string, out: string, cwd: string): void {
  const plugin = require.resolve("@bufbuild/protoc-gen-es/bin/protoc-gen-es");
  const template = {
    version: "v2",
    clean: true,
    plugins: [{ local: [process.execPath, plugin], out, opt: ["target=js+dts", "import_extension=js"] }],
  };
  const result = spawnSync(bufBinary(), ["generate", proto, "--include-imports", "--template", JSON.stringify(template)], { cwd, encoding: "utf8" });
  if (result.error || result.status !== 0) {
    const detail = result.error ? result.error.message : (result.stderr || result.stdout).trim();
    throw new GeneratorError("command_failed", `buf generate for ${proto} failed:\n${detail}`, { cause: result.error });
  }
}

function readClientsFile(dir: string): ClientRecord[] {
  const file = join(dir, clientsFileName);
  if (!existsSync(file)) return [];
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as { clients?: unknown };
    const clients = parsed.clients;
    if (!Array.isArray(clients) || !clients.every((c) => typeof c?.proto === "string" && typeof c?.out === "string")) {
      throw new Error('expected { "clients": [{ "proto": "...", "out": "..." }] }');
    }
    return clients as ClientRecord[];
  } catch (cause) {
    throw new GeneratorError("not_a_project", `${file} is not valid: ${(cause as Error).message}`, { cause });
  }
}

function writeClientsFile(dir: string, clients: ClientRecord[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, clientsFileName), JSON.stringify({ clients }, null, 2) + "\n");
}

/** A path as the user would type it from `cwd`. */
const shownFrom = (cwd: string, path: string) => {
  const rel = relative(cwd, path);
  return rel === "" ? "." : rel.startsWith("..") ? path : rel;
};

function report(result: ClientResult, cwd: string): string {
  const index = `./${posix(relative(cwd, join(result.dir, result.record.out, "index.js")))}`;
  return [
    `Typed client for ${result.services.join(", ")} in ${shownFrom(cwd, join(result.dir, result.record.out))} (from ${result.record.proto})`,
    ...result.functions.map((f, i) => `  import { connectMaster, ${f} } from "${index}";   // ${result.services[i]}`),
  ].join("\n");
}

/** `create-hsu-unit client --proto FILE [--dir DIR] [--out PATH]`. */
export async function clientCommand(args: { proto?: string; dir?: string; out?: string }, cwd: string): Promise<void> {
  if (args.proto === undefined) throw new GeneratorError("usage", "client: --proto FILE is needed (the unit's .proto).\nRun create-hsu-unit --help.");
  const result = await createUnitClient({ proto: args.proto, ...(args.dir !== undefined ? { dir: args.dir } : {}), ...(args.out !== undefined ? { out: args.out } : {}), cwd });
  console.log(report(result, cwd));
  console.log(`\nCall a unit with: const master = await connectMaster(); ${result.functions[0]}(master, "<unit id>"); ... master.close();`);
  console.log("After changing the proto, run `npx create-hsu-unit regen` here.");
}

/**
 * `regen` in a master's project: re-generates the clients hsu-clients.json
 * names. True when that is all there is to do (no hsu-unit.json beside it).
 */
export async function regenClientsIn(dir: string, cwd: string): Promise<boolean> {
  if (!hasClients(dir)) return false;
  for (const result of await regenClients(dir)) console.log(report(result, cwd));
  return !existsSync(join(dir, unitFileName));
}
