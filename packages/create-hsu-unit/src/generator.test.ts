import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findAssetDirs, languages } from "./assets.ts";
import { GeneratorError } from "./errors.ts";
import { createUnit, regenUnit } from "./generator.ts";
import { listTree, makeTempDir } from "./test-support/temp.ts";

const echoProto = join(findAssetDirs().templates, "../examples/echo/proto/hsu/examples/echo/v1/echo.proto");
const quiet = () => {};
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function temp(): string {
  const t = makeTempDir("hsu-gen-test-");
  cleanups.push(t.cleanup);
  return t.dir;
}

const available = languages.filter((l) => existsSync(join(findAssetDirs().templates, l, "template.json")));

describe("createUnit", () => {
  it("renders the TypeScript template to exactly the expected files", async () => {
    const dir = join(temp(), "echo");
    await createUnit({ name: "echo", language: "ts", protoFile: echoProto, dir, generate: false, log: quiet });
    expect(listTree(dir)).toEqual([
      ".gitattributes",
      ".gitignore",
      "README.md",
      "buf.gen.yaml",
      "hsu-unit.json",
      "package.json",
      "proto/google/api/annotations.proto",
      "proto/google/api/http.proto",
      "proto/grpc/health/v1/health.proto",
      "proto/grpc/reflection/v1/reflection.proto",
      "proto/hsu/core/v1/core.proto",
      "proto/hsu/examples/echo/v1/echo.proto",
      "proto/hsu/master/v1/registration.proto",
      "scripts/package-build.sh",
      "scripts/package.sh",
      "src/hsu-services.ts",
      "src/main.ts",
      "src/services/echo-service.ts",
      "src/start.ts",
      "test/unit.test.ts",
      "tsconfig.json",
    ]);
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    expect(pkg.name).toBe("echo");
    expect(pkg.dependencies["@hsu/server"]).toBe("0.1.0");
    expect(pkg.overrides).toBeUndefined();
    const recorded = JSON.parse(readFileSync(join(dir, "hsu-unit.json"), "utf8"));
    expect(recorded).toMatchObject({ name: "echo", language: "ts" });
  });

  it.each(available)("renders the %s template: proto in place, no template syntax left", async (language) => {
    const dir = join(temp(), "echo");
    const result = await createUnit({ name: "echo-unit", language, protoFile: echoProto, dir, generate: false, log: quiet });
    const files = listTree(dir);
    expect(files).toContain("proto/hsu/examples/echo/v1/echo.proto");
    expect(files).toContain("proto/hsu/core/v1/core.proto");
    expect(files).toContain(result.implFiles[0]);
    for (const file of files) {
      expect(file).not.toMatch(/\.hbs$|_dot_|\{\{/);
      // Block tags left over mean a .hbs file was copied instead of rendered (plain
      // {{name}} may be legitimate text in a copied file, e.g. a comment).
      expect(readFileSync(join(dir, file), "utf8"), file).not.toMatch(/\{\{[#/>]\s*[a-zA-Z]/);
    }
    expect(readFileSync(join(dir, result.implFiles[0]!), "utf8")).toContain(result.manifest.stubMarker);
  });

  it("uses the starter proto when none is given", async () => {
    const dir = join(temp(), "orders");
    const result = await createUnit({ name: "orders", language: "ts", dir, generate: false, log: quiet });
    expect(result.context.services.map((s) => s.fullName)).toEqual(["orders.v1.OrdersService"]);
    expect(listTree(dir)).toContain("proto/orders/v1/orders.proto");
  });

  it("refuses to overwrite existing files and lists them, unless forced", async () => {
    const dir = join(temp(), "echo");
    await createUnit({ name: "echo", language: "ts", protoFile: echoProto, dir, generate: false, log: quiet });
    writeFileSync(join(dir, "src/main.ts"), "// mine\n");
    const again = createUnit({ name: "echo", language: "ts", protoFile: echoProto, dir, generate: false, log: quiet });
    await expect(again).rejects.toThrow(GeneratorError);
    await expect(again).rejects.toThrow(/src\/main\.ts[\s\S]*--force/);
    expect(readFileSync(join(dir, "src/main.ts"), "utf8")).toBe("// mine\n");
    await createUnit({ name: "echo", language: "ts", protoFile: echoProto, dir, generate: false, force: true, log: quiet });
    expect(readFileSync(join(dir, "src/main.ts"), "utf8")).toContain("serveUnit");
  });

  it("fails on a bad proto with the compiler's file:line:col message", async () => {
    const work = temp();
    writeFileSync(join(work, "bad.proto"), 'syntax = "proto3";\npackage a.v1;\nmessage X {\n  int32 y = ;\n}\n');
    const attempt = createUnit({ name: "bad", language: "ts", protoFile: "bad.proto", dir: "out", cwd: work, generate: false, log: quiet });
    await expect(attempt).rejects.toThrow(/bad\.proto:4:\d+/);
    expect(existsSync(join(work, "out"))).toBe(false);
  });

  it("rejects a unit name that is not kebab-case", async () => {
    await expect(createUnit({ name: "Echo_Unit", language: "ts", dir: temp(), generate: false, log: quiet })).rejects.toThrow(
      /kebab-case/,
    );
  });

  it("keeps local imports resolvable by copying them at their relative paths", async () => {
    const work = temp();
    mkdirSync(join(work, "api"));
    writeFileSync(join(work, "api/types.proto"), 'syntax = "proto3";\npackage shop.v1;\nmessage Item { string id = 1; }\n');
    writeFileSync(
      join(work, "api/shop.proto"),
      'syntax = "proto3";\npackage shop.v1;\nimport "types.proto";\nservice ShopService { rpc Get(Item) returns (Item); rpc Watch(Item) returns (stream Item); }\n',
    );
    const result = await createUnit({ name: "shop", language: "ts", protoFile: "api/shop.proto", dir: "out", cwd: work, generate: false, log: quiet });
    expect(listTree(join(work, "out")).filter((f) => f.startsWith("proto/shop") || f.startsWith("proto/types"))).toEqual([
      "proto/shop.proto",
      "proto/types.proto",
    ]);
    expect(result.context.services[0]?.methods.map((m) => [m.localName, m.inputFullName, m.serverStreaming])).toEqual([
      ["get", "shop.v1.Item", false],
      ["watch", "shop.v1.Item", true],
    ]);
  });
});

describe("regenUnit", () => {
  it("adds stubs for new RPCs and new services without touching the user's code", async () => {
    const dir = join(temp(), "echo");
    await createUnit({ name: "echo", language: "ts", protoFile: echoProto, dir, generate: false, log: quiet });
    const implPath = join(dir, "src/services/echo-service.ts");
    const userBody = "  async echo(request) {\n    return { message: request.message, unitId: \"mine\" };\n  },\n";
    const original = readFileSync(implPath, "utf8");
    const edited = original.replace(/  async echo\(_request, _context\) \{\n[^\n]*\n  \},\n/, userBody);
    expect(edited).not.toBe(original);
    writeFileSync(implPath, edited);

    const protoPath = join(dir, "proto/hsu/examples/echo/v1/echo.proto");
    const proto = readFileSync(protoPath, "utf8")
      .replace(
        "rpc Echo(",
        "rpc EchoMany(EchoRequest) returns (stream EchoResponse);\n  rpc Echo(",
      )
      .concat("\nservice AdminService {\n  rpc Reset(EchoRequest) returns (EchoResponse);\n}\n");
    writeFileSync(protoPath, proto);

    const result = await regenUnit({ dir, generate: false, log: quiet });
    expect(result.stubsAdded.sort()).toEqual(["AdminService.Reset", "EchoService.EchoMany"]);
    const after = readFileSync(implPath, "utf8");
    expect(after).toContain(userBody);
    expect(after).toMatch(/async \*echoMany\(_request, _context\) \{[\s\S]*\n  \/\/ hsu:new-rpc-stubs/);
    expect(after.replace(/  async \*echoMany[\s\S]*?\n  \},\n/, "")).toBe(edited);
    expect(readFileSync(join(dir, "src/services/admin-service.ts"), "utf8")).toContain("async reset(");
    const registry = readFileSync(join(dir, "src/hsu-services.ts"), "utf8");
    expect(registry).toContain("unitService(AdminService, adminService)");

    const second = await regenUnit({ dir, generate: false, log: quiet });
    expect(second.stubsAdded).toEqual([]);
    expect(readFileSync(implPath, "utf8")).toBe(after);
  });

  it.each(available)("%s: regen finds every generated stub and adds one for a new RPC before the marker", async (language) => {
    const dir = join(temp(), "echo");
    const created = await createUnit({ name: "echo-unit", language, protoFile: echoProto, dir, generate: false, log: quiet });
    const implPath = join(dir, created.implFiles[0]!);
    const before = readFileSync(implPath, "utf8");
    const untouched = await regenUnit({ dir, generate: false, log: quiet });
    expect(untouched.stubsAdded, "methodPresent must match the stubs service.hbs writes").toEqual([]);
    expect(readFileSync(implPath, "utf8")).toBe(before);

    const protoPath = join(dir, "proto/hsu/examples/echo/v1/echo.proto");
    writeFileSync(
      protoPath,
      readFileSync(protoPath, "utf8").replace(
        "rpc Echo(",
        "rpc Shout(EchoRequest) returns (EchoResponse);\n  rpc Echo(",
      ),
    );
    const result = await regenUnit({ dir, generate: false, log: quiet });
    expect(result.stubsAdded).toEqual(["EchoService.Shout"]);
    const after = readFileSync(implPath, "utf8");
    const markerAt = after.split("\n").findIndex((l) => l.includes(result.manifest.stubMarker));
    const shoutAt = after.split("\n").findIndex((l) => l.includes("Shout") || l.includes("shout"));
    expect(shoutAt).toBeGreaterThanOrEqual(0);
    expect(shoutAt).toBeLessThan(markerAt);
    expect((await regenUnit({ dir, generate: false, log: quiet })).stubsAdded).toEqual([]);
  });

  it("says so when the marker line is gone", async () => {
    const dir = join(temp(), "echo");
    await createUnit({ name: "echo", language: "ts", protoFile: echoProto, dir, generate: false, log: quiet });
    const implPath = join(dir, "src/services/echo-service.ts");
    writeFileSync(implPath, readFileSync(implPath, "utf8").replace(/.*hsu:new-rpc-stubs.*\n/, ""));
    const protoPath = join(dir, "proto/hsu/examples/echo/v1/echo.proto");
    writeFileSync(protoPath, readFileSync(protoPath, "utf8").replace("rpc Echo(", "rpc Other(EchoRequest) returns (EchoResponse);\n  rpc Echo("));
    await expect(regenUnit({ dir, generate: false, log: quiet })).rejects.toThrow(/hsu:new-rpc-stubs[\s\S]*Other/);
  });

  it("refuses to run outside a generated project", async () => {
    await expect(regenUnit({ dir: temp(), generate: false, log: quiet })).rejects.toThrow(/hsu-unit\.json not found/);
  });
});
