// A unit's proto may import google/api/annotations.proto (google.api.http
// rules for a REST gateway) without a copy of googleapis beside it: the tool
// ships the two files, puts them in every project, and compiles a lone user
// file against them. Errors still name the user's file and line.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findAssetDirs, googleApiProtoFiles } from "./assets.ts";
import { compileProto } from "./buf.ts";
import { createUnitClient } from "./client-gen.ts";
import { GeneratorError } from "./errors.ts";
import { createUnit, regenUnit } from "./generator.ts";
import { annotatedProto } from "./test-support/annotated-proto.ts";
import { makeTempDir } from "./test-support/temp.ts";


const quiet = () => {};
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
function temp(): string {
  const t = makeTempDir("hsu-annotations-");
  cleanups.push(t.cleanup);
  return t.dir;
}

/** The HTTP rules of every method in the project's compiled proto/, as buf reports them. */
function httpRules(dir: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const file of compileProto("proto", dir)) {
    for (const svc of file.service ?? []) {
      for (const m of svc.method ?? []) {
        const options = (m as { options?: Record<string, unknown> }).options;
        if (options?.["[google.api.http]"] !== undefined) out[`${svc.name}.${m.name}`] = options["[google.api.http]"];
      }
    }
  }
  return out;
}

describe("google/api annotations in a unit's proto", () => {
  it.each(["go", "python", "rust", "ts"] as const)(
    "%s: a lone annotated file generates, at its package path, with proto/google/api beside it",
    async (language) => {
      const cwd = temp();
      writeFileSync(join(cwd, "items.proto"), annotatedProto);
      const dir = join(cwd, "items");
      const result = await createUnit({ name: "items", language, protoFile: "items.proto", dir, cwd, generate: false, log: quiet });
      expect(result.context.protoFiles).toEqual(["acme/items/v1/items.proto"]);
      expect(result.context.services.map((s) => s.methods.map((m) => m.name))).toEqual([["GetItem", "CreateItem", "Ping"]]);
      for (const file of googleApiProtoFiles) {
        expect(readFileSync(join(dir, "proto", file))).toEqual(readFileSync(join(findAssetDirs().proto, file)));
      }
      expect(httpRules(dir)).toEqual({
        "ItemService.GetItem": { get: "/v1/items/{id}" },
        "ItemService.CreateItem": { post: "/v1/items", body: "*" },
      });
    },
  );

  it("names the user's file and line when an annotated proto has an error", async () => {
    const cwd = temp();
    mkdirSync(join(cwd, "api"));
    writeFileSync(join(cwd, "api/items.proto"), annotatedProto.replace("rpc Ping(GetItemRequest) returns (Item);", "rpc Ping(GetItemRequest) returns (Missing);"));
    const dir = join(cwd, "items");
    const error = await createUnit({ name: "items", language: "go", protoFile: "api/items.proto", dir, cwd, generate: false, log: quiet }).catch((e: unknown) => e);
    expect(GeneratorError.is(error) && error.code).toBe("bad_proto");
    expect((error as Error).message).toMatch(/^api\/items\.proto:21:\d+:.*`Missing`/m);
    expect((error as Error).message).not.toContain("user/");
    expect(existsSync(dir)).toBe(false);
  });

  it("refuses a malformed http rule with the user's file:line", async () => {
    const cwd = temp();
    writeFileSync(join(cwd, "items.proto"), annotatedProto.replace('{get: "/v1/items/{id}"}', '{gett: "/v1/items/{id}"}'));
    const error = await createUnit({ name: "items", language: "ts", protoFile: "items.proto", dir: join(cwd, "items"), cwd, generate: false, log: quiet }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^items\.proto:11:\d+:.*google\.api\.HttpRule/m);
  });

  it("keeps a user's own google/api copy working (and writes the shipped one)", async () => {
    const cwd = temp();
    mkdirSync(join(cwd, "google/api"), { recursive: true });
    for (const file of googleApiProtoFiles) writeFileSync(join(cwd, file), readFileSync(join(findAssetDirs().proto, file)));
    writeFileSync(join(cwd, "items.proto"), annotatedProto);
    const dir = join(cwd, "items");
    const result = await createUnit({ name: "items", language: "rust", protoFile: "items.proto", dir, cwd, generate: false, log: quiet });
    expect(result.context.protoFiles).toEqual(["acme/items/v1/items.proto"]);
    expect(Object.keys(httpRules(dir))).toEqual(["ItemService.GetItem", "ItemService.CreateItem"]);
  });

  it("regen gives an older project (no proto/google/api) the files before its proto imports them", async () => {
    const cwd = temp();
    writeFileSync(join(cwd, "items.proto"), annotatedProto.replace('import "google/api/annotations.proto";\n', "").replace(/ \{\n    option \(google\.api\.http\)[\s\S]*?\n  \}/g, ";"));
    const dir = join(cwd, "items");
    await createUnit({ name: "items", language: "python", protoFile: "items.proto", dir, cwd, generate: false, log: quiet });
    rmSync(join(dir, "proto/google"), { recursive: true });
    writeFileSync(join(dir, "proto/acme/items/v1/items.proto"), annotatedProto);
    const result = await regenUnit({ dir, generate: false, log: quiet });
    expect(result.written).toEqual(expect.arrayContaining(googleApiProtoFiles.map((f) => `proto/${f}`)));
    expect(Object.keys(httpRules(dir))).toEqual(["ItemService.GetItem", "ItemService.CreateItem"]);
  });

  it("create-hsu-unit client generates a master's client for an annotated proto, google/api included", async () => {
    const cwd = temp();
    writeFileSync(join(cwd, "items.proto"), annotatedProto);
    mkdirSync(join(cwd, "master"));
    const result = await createUnitClient({ proto: "items.proto", dir: "master", cwd });
    expect(result.services).toEqual(["acme.items.v1.ItemService"]);
    const gen = join(cwd, "master/hsu-clients/items/gen");
    expect(readFileSync(join(gen, "items_pb.js"), "utf8")).toContain('from "./google/api/annotations_pb.js"');
    expect(existsSync(join(gen, "google/api/http_pb.js"))).toBe(true);
  });
});
