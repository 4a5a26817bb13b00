import { contractProtoFiles } from "./assets.ts";
import type { FileDescriptorJson } from "./buf.ts";
import { GeneratorError } from "./errors.ts";
import {
  goCamelCase,
  goPackageOf,
  indexTypes,
  isPyKeyword,
  pyModuleName,
  pyPackageModule,
  rustIdent,
  rustPackagePath,
  rustSnake,
  rustType,
  rustUpperCamel,
  tsVariable,
  type TypeLocation,
  wellKnownType,
} from "./lang-names.ts";

/** One RPC as the templates see it. */
export interface MethodContext {
  name: string;
  /** The name protobuf-es / connect-es give the method (lowerCamelCase). */
  localName: string;
  inputType: string;
  inputFullName: string;
  outputType: string;
  outputFullName: string;
  clientStreaming: boolean;
  serverStreaming: boolean;
  /** Go: the method name (protoc-gen-go-grpc's GoCamelCase) and the qualified request/response types. */
  go: { name: string; input: string; output: string };
  /** Python: request/response types as attributes of the service's `pb` module. */
  py: { input: string; output: string };
  /** Rust: the trait method name (raw identifier for keywords) and the request/response type paths. */
  rust: { name: string; input: string; output: string };
}

/** A Go import a service file needs besides its own package (`pb`). */
export interface GoImport {
  alias: string;
  path: string;
}

/** One domain service as the templates see it. */
export interface ServiceContext {
  name: string;
  fullName: string;
  package: string;
  protoFile: string;
  /** protoFile without `.proto`, for generated-code paths (`echo_pb.ts`, `echo_pb2.py`). */
  protoStem: string;
  methods: MethodContext[];
  /** Go: the service's name in generated code, its package's import path, and the other packages its RPCs use. */
  go: { name: string; importPath: string; imports: GoImport[] };
  /** Python: the gen/by_package module of the service's package, and the implementation's module name. */
  py: { module: string; file: string };
  /** Rust: the module to glob-import, the tonic server module and trait names, the implementation's module. */
  rust: { module: string; serverModule: string; trait: string; mod: string };
  /** TypeScript: the implementation's variable name (never a reserved word). */
  ts: { variable: string };
}

/** The options a project is created with; recorded in hsu-unit.json for regen. */
export interface UnitOptions {
  name: string;
  language: string;
  hsuVersion: string;
  goModule: string;
  pyPackage: string;
  crateName: string;
  /**
   * npm dependency specs for the HSU packages, keyed by short name
   * (`server`, `proto`, `client`): the version, or `file:` tarballs from `--sdk`.
   */
  npm: Record<string, string>;
  /** With `--sdk`: every HSU tarball, for npm `overrides`. Empty otherwise. */
  npmOverrides: { name: string; spec: string }[];
}

/** Everything a template is rendered with (see TEMPLATES.md). */
export interface TemplateContext extends UnitOptions {
  protoFiles: string[];
  packages: string[];
  services: ServiceContext[];
}

/** A fully-qualified type name without buf's leading dot. */
function stripDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}

/** The last segment of a dotted name. */
function shortName(fullName: string): string {
  return fullName.slice(fullName.lastIndexOf(".") + 1);
}

/** Where buildContext finds a proto's text, and how it names the file in an error (the user's path). */
export interface ProtoSources {
  text: (file: string) => string | undefined;
  display: (file: string) => string;
}

/** `file:line` of the line declaring `service <name>` (just `file` when the text is not at hand). */
function serviceLine(file: string, name: string, sourceOf: ProtoSources): string {
  const lines = sourceOf.text(file)?.split("\n") ?? [];
  const index = lines.findIndex((line) => new RegExp(`^\\s*service\\s+${name}\\b`).test(line));
  return index < 0 ? sourceOf.display(file) : `${sourceOf.display(file)}:${index + 1}`;
}

// Names from Rust's prelude that tonic's generated server module uses itself.
const rustPrelude = new Set(["Default", "Clone", "Send", "Sync", "Sized", "Result", "Option", "Box", "String", "Vec", "Ok", "Err", "Some", "None", "From", "Into", "Iterator", "Drop", "Fn", "Arc"]);

/**
 * Refuses, before anything is written, protos the templates cannot turn into
 * a unit that builds: two services of one name (in different packages) would
 * share an implementation file and a registration name in every language;
 * in Rust a service named like a prelude item (`Default`) breaks tonic's code;
 * in Python a package with a keyword segment (`acme.import.v1`) cannot be imported.
 */
function checkSupported(own: FileDescriptorJson[], language: string, sourceOf: ProtoSources): void {
  const seen = new Map<string, string>();
  for (const file of own) {
    const keyword = (file.package ?? "").split(".").find(isPyKeyword);
    if (language === "python" && keyword !== undefined) {
      const lines = sourceOf.text(file.name)?.split("\n") ?? [];
      const index = lines.findIndex((line) => /^\s*package\s/.test(line));
      const where = index < 0 ? sourceOf.display(file.name) : `${sourceOf.display(file.name)}:${index + 1}`;
      throw new GeneratorError(
        "bad_proto",
        `${where}: package ${file.package} cannot be imported in Python: protoc's Python code for it lives in a module path with the keyword "${keyword}". Rename that part of the package (e.g. ${keyword}s) and run again.`,
      );
    }
    for (const svc of file.service ?? []) {
      if (language === "rust" && rustPrelude.has(rustUpperCamel(svc.name))) {
        throw new GeneratorError(
          "bad_proto",
          `${serviceLine(file.name, svc.name, sourceOf)}: service ${svc.name} cannot be built in Rust: tonic names the service's trait ${rustUpperCamel(svc.name)}, which hides Rust's own ${rustUpperCamel(svc.name)} in the generated code. Rename the service (e.g. ${svc.name}Service) and run again.`,
        );
      }
      const key = rustSnake(svc.name);
      const here = serviceLine(file.name, svc.name, sourceOf);
      const first = seen.get(key);
      if (first !== undefined) {
        throw new GeneratorError(
          "bad_proto",
          `${here}: service ${svc.name} has the name of the service at ${first}; a unit names each service's implementation file and registration after it, so two services cannot share a name (even in different packages). Rename one of them (e.g. ${rustUpperCamel(file.package?.split(".")[0] ?? "other")}${svc.name}) and run again.`,
        );
      }
      seen.set(key, here);
    }
  }
}

/** lowerCamelCase like the `camelCase` template helper (`EchoService` -> `echoService`). */
function camel(name: string): string {
  const pascal = rustUpperCamel(name);
  return pascal.charAt(0).toLowerCase() + pascal.slice(1);
}

/**
 * protobuf-es's (v2) local name for a method: the proto name with its first
 * letter lowered (`get_kind` stays `get_kind`), `$` after a name reserved by
 * JavaScript objects (`constructor$`).
 */
export function methodLocalName(name: string): string {
  const lowered = name.charAt(0).toLowerCase() + name.slice(1);
  return ["constructor", "toString", "toJSON", "valueOf"].includes(lowered) ? `${lowered}$` : lowered;
}

/** True for the HSU contracts and well-known types, which are not the user's. */
export function isContractFile(file: string): boolean {
  return contractProtoFiles.includes(file) || file.startsWith("google/protobuf/") || file.startsWith("grpc/");
}

/**
 * Builds the template context from compiled descriptors: the user's files
 * (everything but HSU's contracts and well-known types), their packages and
 * their services in declaration order.
 */
export function buildContext(
  files: FileDescriptorJson[],
  options: UnitOptions,
  sourceOf: ProtoSources = { text: () => undefined, display: (file) => file },
): TemplateContext {
  const own = files.filter((f) => !isContractFile(f.name));
  checkSupported(own, options.language, sourceOf);
  const types = indexTypes(files);
  const locate = (typeName: string, where: string): TypeLocation => {
    const loc = types.get(stripDot(typeName)) ?? wellKnownType(stripDot(typeName));
    if (loc === undefined) throw new GeneratorError("bad_proto", `${where}: type ${stripDot(typeName)} not found in the compiled files.`);
    return loc;
  };
  const services: ServiceContext[] = [];
  // Names a Go service file already uses for its own imports.
  const goTaken = new Set(["pb", "context", "grpc", "hsu"]);
  for (const file of own) {
    const pkg = file.package ?? "";
    for (const svc of file.service ?? []) {
      const goPkg = goPackageOf(file.name, pkg, options.goModule);
      const goImports = new Map<string, GoImport>();
      const goType = (loc: TypeLocation): string => {
        const target = goPackageOf(loc.file, loc.package, options.goModule);
        const name = goCamelCase(loc.path.join("."));
        if (target.path === goPkg.path) return `pb.${name}`;
        let imp = goImports.get(target.path);
        if (imp === undefined) {
          let alias = target.name;
          for (let i = 2; goTaken.has(alias) || [...goImports.values()].some((g) => g.alias === alias); i++) alias = `${target.name}${i}`;
          imp = { alias, path: target.path };
          goImports.set(target.path, imp);
        }
        return `${imp.alias}.${name}`;
      };
      const pyType = (loc: TypeLocation) => `pb.${loc.path.join(".")}`;
      const methods = (svc.method ?? []).map((m): MethodContext => {
        const where = `${file.name}: ${svc.name}.${m.name}`;
        const input = locate(m.inputType, where);
        const output = locate(m.outputType, where);
        return {
          name: m.name,
          localName: methodLocalName(m.name),
          inputType: shortName(stripDot(m.inputType)),
          inputFullName: stripDot(m.inputType),
          outputType: shortName(stripDot(m.outputType)),
          outputFullName: stripDot(m.outputType),
          clientStreaming: m.clientStreaming === true,
          serverStreaming: m.serverStreaming === true,
          go: { name: goCamelCase(m.name), input: goType(input), output: goType(output) },
          py: { input: pyType(input), output: pyType(output) },
          rust: { name: rustIdent(rustSnake(m.name)), input: rustType(input, pkg), output: rustType(output, pkg) },
        };
      });
      const rustModule = pkg.includes(".") ? `crate::gen::${rustSnake(pkg)}` : ["crate::gen", ...rustPackagePath(pkg)].join("::");
      services.push({
        name: svc.name,
        fullName: pkg ? `${pkg}.${svc.name}` : svc.name,
        package: pkg,
        protoFile: file.name,
        protoStem: file.name.replace(/\.proto$/, ""),
        methods,
        go: { name: goCamelCase(svc.name), importPath: goPkg.path, imports: [...goImports.values()].sort((a, b) => a.path.localeCompare(b.path)) },
        py: { module: pyPackageModule(pkg), file: pyModuleName(svc.name) },
        rust: {
          module: rustModule,
          serverModule: `${rustSnake(svc.name)}_server`,
          trait: rustIdent(rustUpperCamel(svc.name)),
          mod: rustIdent(rustSnake(svc.name)),
        },
        ts: { variable: tsVariable(camel(svc.name)) },
      });
    }
  }
  return {
    ...options,
    protoFiles: own.map((f) => f.name).sort(),
    packages: [...new Set(own.map((f) => f.package ?? "").filter((p) => p !== ""))].sort(),
    services,
  };
}
