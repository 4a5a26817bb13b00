import { contractProtoFiles } from "./assets.ts";
import type { FileDescriptorJson } from "./buf.ts";

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

/** protobuf-es's local name for a method: proto camel case, first letter lowered. */
export function methodLocalName(name: string): string {
  const camel = name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/_/g, "");
  return camel.charAt(0).toLowerCase() + camel.slice(1);
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
export function buildContext(files: FileDescriptorJson[], options: UnitOptions): TemplateContext {
  const own = files.filter((f) => !isContractFile(f.name));
  const services: ServiceContext[] = [];
  for (const file of own) {
    const pkg = file.package ?? "";
    for (const svc of file.service ?? []) {
      services.push({
        name: svc.name,
        fullName: pkg ? `${pkg}.${svc.name}` : svc.name,
        package: pkg,
        protoFile: file.name,
        protoStem: file.name.replace(/\.proto$/, ""),
        methods: (svc.method ?? []).map((m) => ({
          name: m.name,
          localName: methodLocalName(m.name),
          inputType: shortName(stripDot(m.inputType)),
          inputFullName: stripDot(m.inputType),
          outputType: shortName(stripDot(m.outputType)),
          outputFullName: stripDot(m.outputType),
          clientStreaming: m.clientStreaming === true,
          serverStreaming: m.serverStreaming === true,
        })),
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
