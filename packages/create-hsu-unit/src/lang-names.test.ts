import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findAssetDirs } from "./assets.ts";
import { compileProto } from "./buf.ts";
import { buildContext, methodLocalName, type UnitOptions } from "./context.ts";
import { goCamelCase, goPackageOf, pyModuleName, rustIdent, rustType, tsVariable } from "./lang-names.ts";

// The names each language's protobuf generator gives, as the templates must
// spell them; the slow corpus suite proves them by building every language.
const corpus = join(findAssetDirs().templates, "../packages/conformance/corpus/corpus.proto");
const options: UnitOptions = {
  name: "corpus-unit",
  language: "go",
  hsuVersion: "0.0.0",
  goModule: "example.com/corpus-unit",
  pyPackage: "corpus_unit",
  crateName: "corpus_unit",
  npm: {},
  npmOverrides: [],
};

describe("language names", () => {
  it("spells Go names like protoc-gen-go", () => {
    expect(goCamelCase("get_kind")).toBe("GetKind");
    expect(goCamelCase("Shape.Kind.Probe")).toBe("Shape_Kind_Probe");
    expect(goCamelCase("_private")).toBe("XPrivate");
    expect(goCamelCase("HTTPRequest")).toBe("HTTPRequest");
    expect(goPackageOf("google/protobuf/field_mask.proto", "google.protobuf", "m").path).toBe("google.golang.org/protobuf/types/known/fieldmaskpb");
    expect(goPackageOf("nopkg.proto", "", "m")).toEqual({ path: "m/gen/nopkg", name: "nopkg" });
    expect(goPackageOf("proto/echo.proto", "proto", "m")).toEqual({ path: "m/gen/proto", name: "proto" });
  });

  it("escapes Rust keywords like prost", () => {
    expect(rustIdent("type")).toBe("r#type");
    expect(rustIdent("self")).toBe("self_");
    expect(rustIdent("import")).toBe("import");
    expect(rustType({ file: "google/protobuf/wrappers.proto", package: "google.protobuf", path: ["StringValue"] }, "x")).toBe("::prost::alloc::string::String");
    expect(rustType({ file: "s.proto", package: "a.b", path: ["Shape", "Kind", "Probe"] }, "a.b")).toBe("crate::gen::a::b::shape::kind::Probe");
    expect(rustType({ file: "s.proto", package: "a.b", path: ["Shape"] }, "a.b")).toBe("Shape");
  });

  it("keeps Python and TypeScript names clear of keywords", () => {
    expect(pyModuleName("Import")).toBe("import_");
    expect(pyModuleName("EchoService")).toBe("echo_service");
    expect(tsVariable("default")).toBe("defaultImpl");
    expect(tsVariable("echoService")).toBe("echoService");
    expect(methodLocalName("get_kind")).toBe("get_kind");
    expect(methodLocalName("ToString")).toBe("toString$");
  });
});

describe("buildContext on the proto corpus", () => {
  const context = buildContext(compileProto(corpus, process.cwd()), options);
  const service = (name: string) => context.services.find((s) => s.name === name)!;

  it("imports every other Go package a service's RPCs use", () => {
    const wkt = service("WellKnownService");
    expect(wkt.go.imports.map((i) => i.path)).toEqual([
      "example.com/corpus-unit/gen/corpus/common/v1",
      "google.golang.org/protobuf/types/known/anypb",
      "google.golang.org/protobuf/types/known/durationpb",
      "google.golang.org/protobuf/types/known/emptypb",
      "google.golang.org/protobuf/types/known/structpb",
      "google.golang.org/protobuf/types/known/timestamppb",
      "google.golang.org/protobuf/types/known/wrapperspb",
    ]);
    expect(wkt.methods.find((m) => m.name === "Now")!.go).toEqual({ name: "Now", input: "emptypb.Empty", output: "timestamppb.Timestamp" });
    expect(service("EchoService").methods.find((m) => m.name === "Nothing")!.go.input).toBe("emptypb.Empty");
  });

  it("names nested types, no-package services and keyword services in every language", () => {
    const probe = service("ShapeService").methods.find((m) => m.name === "get_kind")!;
    expect(probe.go).toEqual({ name: "GetKind", input: "pb.Shape_Kind_Probe", output: "pb.Shape" });
    expect(probe.py).toEqual({ input: "pb.Shape.Kind.Probe", output: "pb.Shape" });
    expect(probe.rust.input).toBe("crate::gen::corpus::shapes::v1::shape::kind::Probe");
    const noPackage = service("NoPackageService");
    expect([noPackage.go.importPath, noPackage.py.module, noPackage.rust.module]).toEqual(["example.com/corpus-unit/gen/nopkg", "default", "crate::gen"]);
    const echo = service("EchoService");
    expect([echo.go.importPath, echo.py.module, echo.rust.module]).toEqual(["example.com/corpus-unit/gen/proto", "proto", "crate::gen::proto"]);
    const keywords = service("Import");
    expect([keywords.py.file, keywords.ts.variable]).toEqual(["import_", "importImpl"]);
    expect(keywords.methods.find((m) => m.name === "Type")!.rust.name).toBe("r#type");
  });
});
