import type { FileDescriptorJson, MessageDescriptorJson } from "./buf.ts";

/**
 * Where a message or enum is declared: its file, package and the chain of
 * names from the top-level message down (`["Shape", "Kind", "Probe"]`).
 * The templates need it to name a type in each language's generated code.
 */
export interface TypeLocation {
  file: string;
  package: string;
  path: string[];
}

/** Indexes every message and enum (nested ones too) of the files by full name. */
export function indexTypes(files: FileDescriptorJson[]): Map<string, TypeLocation> {
  const index = new Map<string, TypeLocation>();
  for (const file of files) {
    const pkg = file.package ?? "";
    const visit = (messages: MessageDescriptorJson[] | undefined, enums: { name: string }[] | undefined, parent: string[]) => {
      for (const e of enums ?? []) index.set(fullName(pkg, [...parent, e.name]), { file: file.name, package: pkg, path: [...parent, e.name] });
      for (const m of messages ?? []) {
        const path = [...parent, m.name];
        index.set(fullName(pkg, path), { file: file.name, package: pkg, path });
        visit(m.nestedType, m.enumType, path);
      }
    };
    visit(file.messageType, file.enumType, []);
  }
  return index;
}

// The well-known types, which buf leaves out of its output: where each is declared.
const wellKnownFiles: Record<string, string> = {
  Any: "any", Api: "api", Method: "api", Mixin: "api", Duration: "duration", Empty: "empty", FieldMask: "field_mask",
  SourceContext: "source_context", Struct: "struct", Value: "struct", ListValue: "struct", NullValue: "struct",
  Timestamp: "timestamp", Type: "type", Field: "type", Enum: "type", EnumValue: "type", Option: "type", Syntax: "type",
  DoubleValue: "wrappers", FloatValue: "wrappers", Int64Value: "wrappers", UInt64Value: "wrappers", Int32Value: "wrappers",
  UInt32Value: "wrappers", BoolValue: "wrappers", StringValue: "wrappers", BytesValue: "wrappers",
};

/** The location of a google.protobuf well-known type by full name, if it is one. */
export function wellKnownType(full: string): TypeLocation | undefined {
  const name = full.startsWith("google.protobuf.") ? full.slice("google.protobuf.".length) : "";
  const file = wellKnownFiles[name];
  return file === undefined ? undefined : { file: `google/protobuf/${file}.proto`, package: "google.protobuf", path: [name] };
}

function fullName(pkg: string, path: string[]): string {
  return pkg ? `${pkg}.${path.join(".")}` : path.join(".");
}

// ---- Go (protoc-gen-go / protoc-gen-go-grpc, and the template's tools/protogen) ----

const isLower = (c: string) => c >= "a" && c <= "z";
const isDigit = (c: string) => c >= "0" && c <= "9";

/** protoc-gen-go's GoCamelCase (google.golang.org/protobuf/internal/strs). */
export function goCamelCase(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    const next = s.charAt(i + 1);
    if (c === "." && i + 1 < s.length && isLower(next)) continue;
    if (c === ".") out += "_";
    else if (c === "_" && (i === 0 || s.charAt(i - 1) === ".")) out += "X";
    else if (c === "_" && i + 1 < s.length && isLower(next)) continue;
    else if (isDigit(c)) out += c;
    else {
      out += isLower(c) ? c.toUpperCase() : c;
      while (i + 1 < s.length && isLower(s.charAt(i + 1))) out += s.charAt(++i);
    }
  }
  return out;
}

/** Splits like the `pathCase` template helper: `hsu.examples.echo.v1` -> `hsu/examples/echo/v1`. */
export function words(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1 $2")
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== "")
    .map((w) => w.toLowerCase());
}

/** Go package name as tools/protogen gives it (`hsu.examples.echo.v1` -> `echov1`). */
function goPackageName(protoPackage: string): string {
  const parts = protoPackage.split(".");
  let name = parts[parts.length - 1] ?? "";
  if (parts.length > 1 && /^v\d+/.test(name)) name = (parts[parts.length - 2] ?? "") + name;
  name = name.toLowerCase().replace(/[^a-z0-9_]/g, "");
  return name === "" ? "pb" : name;
}

/** The Go import path and package name tools/protogen (or the Go protobuf module) gives a file. */
export function goPackageOf(file: string, pkg: string, goModule: string): { path: string; name: string } {
  if (file.startsWith("google/protobuf/")) {
    const base = file.slice("google/protobuf/".length, -".proto".length).replace(/_/g, "");
    if (base === "descriptor") return { path: "google.golang.org/protobuf/types/descriptorpb", name: "descriptorpb" };
    return { path: `google.golang.org/protobuf/types/known/${base}pb`, name: `${base}pb` };
  }
  if (pkg === "") {
    const slash = file.lastIndexOf("/");
    const dir = slash < 0 ? "" : file.slice(0, slash);
    const name = goPackageName(file.slice(slash + 1, -".proto".length));
    return { path: [goModule, "gen", dir, name].filter((p) => p !== "").join("/"), name };
  }
  return { path: `${goModule}/gen/${words(pkg).join("/")}`, name: goPackageName(pkg) };
}

// ---- Rust (prost / tonic, and the template's codegen) ----

const rustRaw = new Set(
  ("as break const continue else enum false fn for if impl in let loop match mod move mut pub ref return static struct " +
    "trait true type unsafe use where while dyn abstract become box do final macro override priv typeof unsized virtual " +
    "yield async await try gen").split(" "),
);
const rustSuffixed = new Set(["_", "super", "self", "Self", "extern", "crate"]);

/** prost's sanitize_identifier: a Rust keyword becomes `r#kw` (or `kw_` where raw is not allowed). */
export function rustIdent(ident: string): string {
  if (rustRaw.has(ident)) return `r#${ident}`;
  if (rustSuffixed.has(ident)) return `${ident}_`;
  if (/^[0-9]/.test(ident)) return `_${ident}`;
  return ident;
}

/** snake_case as prost/heck spell it (and the codegen's `snake`). */
export function rustSnake(text: string): string {
  return words(text).join("_");
}

/** UpperCamelCase as prost names types. */
export function rustUpperCamel(text: string): string {
  return words(text)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("");
}

const rustWrappers: Record<string, string> = {
  Empty: "()",
  BoolValue: "bool",
  BytesValue: "::prost::alloc::vec::Vec<u8>",
  DoubleValue: "f64",
  FloatValue: "f32",
  Int32Value: "i32",
  Int64Value: "i64",
  UInt32Value: "u32",
  UInt64Value: "u64",
  StringValue: "::prost::alloc::string::String",
};

/** The module (under `crate::gen`) of a package, nested as prost expects (`hsu::core::v1`). */
export function rustPackagePath(pkg: string): string[] {
  return pkg === "" ? [] : pkg.split(".").map((p) => rustIdent(rustSnake(p)));
}

/** A Rust path for a proto type, as seen from a service file that glob-imports `ownPackage`. */
export function rustType(loc: TypeLocation, ownPackage: string): string {
  if (loc.package === "google.protobuf" && loc.path.length === 1) {
    const name = loc.path[0] ?? "";
    return rustWrappers[name] ?? `::prost_types::${name}`;
  }
  const mods = loc.path.slice(0, -1).map((p) => rustIdent(rustSnake(p)));
  const name = rustIdent(rustUpperCamel(loc.path[loc.path.length - 1] ?? ""));
  if (loc.package === ownPackage && mods.length === 0) return name;
  return ["crate::gen", ...rustPackagePath(loc.package), ...mods, name].join("::");
}

// ---- TypeScript ----

const tsReserved = new Set(
  ("break case catch class const continue debugger default delete do else enum export extends false finally for function " +
    "if import in instanceof new null return super switch this throw true try typeof var void while with implements " +
    "interface let package private protected public static yield await async").split(" "),
);

/** A TypeScript variable name that is never a reserved word (`default` -> `defaultImpl`). */
export function tsVariable(name: string): string {
  return tsReserved.has(name) ? `${name}Impl` : name;
}

// ---- Python (the template's scripts/gen_proto.py) ----

const pyKeywords = new Set(
  ("False None True and as assert async await break class continue def del elif else except finally for from global if " +
    "import in is lambda nonlocal not or pass raise return try while with yield match case type").split(" "),
);

/** True for a Python keyword (`import`, `class`, ...), which cannot be a module path segment. */
export function isPyKeyword(word: string): boolean {
  return pyKeywords.has(word) && !["match", "case", "type"].includes(word);
}

/** A Python module name for a service's file: snake_case, `_` after a keyword (`import` -> `import_`). */
export function pyModuleName(serviceName: string): string {
  const name = words(serviceName).join("_");
  return pyKeywords.has(name) ? `${name}_` : name;
}

/** The gen/by_package module name gen_proto.py writes for a proto package. */
export function pyPackageModule(pkg: string): string {
  return words(pkg).join("_") || "default";
}

