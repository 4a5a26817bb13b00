// A proto with google.api.http annotations (two annotated RPCs, one with a
// path variable) generates and builds in every language, each taking the
// google/api code from where the template says (Go: genproto, Python:
// googleapis-common-protos, Rust and TypeScript: generated), and the
// README's descriptor-set command gives the gateway the rules.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { seedCargoTarget } from "@hsu/conformance";
import { bufBinary } from "./buf.ts";
import { createUnit } from "./generator.ts";
import { repoRoot, run } from "./test-support/first-hour.ts";
import { annotatedProto } from "./test-support/annotated-proto.ts";
import { packSdk } from "./test-support/sdk.ts";
import { makeTempDir } from "./test-support/temp.ts";

const minutes = (n: number) => n * 60_000;
const rustTargetCache = join(repoRoot, ".cache", "annotations", "rust-target");

/** What each language's generated code must show of the annotations. */
const linked: Record<string, { file: string; text: string }> = {
  go: { file: "gen/acme/items/v1/items.pb.go", text: '_ "google.golang.org/genproto/googleapis/api/annotations"' },
  python: { file: "items/gen/acme/items/v1/items_pb2.py", text: "from google.api import annotations_pb2" },
  rust: { file: "src/gen/mod.rs", text: 'include!("google.api.rs");' },
  ts: { file: "src/gen/acme/items/v1/items_pb.ts", text: 'from "../../../google/api/annotations_pb.js"' },
};

describe("create-hsu-unit: a proto with google.api.http annotations", () => {
  const temp = makeTempDir("hsu-annotations-slow-");
  afterAll(() => temp.cleanup());

  it.each(["go", "python", "rust", "ts"] as const)(
    "%s: generates, builds, and buf builds a descriptor set carrying the rules",
    async (language) => {
      const cwd = join(temp.dir, language);
      mkdirSync(cwd, { recursive: true });
      writeFileSync(join(cwd, "items.proto"), annotatedProto);
      const dir = join(cwd, "items");
      if (language === "rust") {
        await seedCargoTarget(rustTargetCache, minutes(30));
        mkdirSync(dir);
        symlinkSync(rustTargetCache, join(dir, "target"));
      }
      const created = await createUnit({
        name: "items",
        language,
        protoFile: "items.proto",
        dir,
        cwd,
        force: language === "rust",
        ...(language === "ts" ? { sdkDir: packSdk() } : {}),
        stdio: "pipe",
        log: () => {},
      });
      expect(readFileSync(join(dir, linked[language]!.file), "utf8")).toContain(linked[language]!.text);
      await run(created.manifest.build, { cwd: dir, deadlineMs: minutes(20) });

      if (language === "python") {
        const check = [
          "from google.api import annotations_pb2",
          "from items.gen.acme.items.v1 import items_pb2",
          "m = items_pb2.DESCRIPTOR.services_by_name['ItemService'].methods_by_name",
          "print(m['GetItem'].GetOptions().Extensions[annotations_pb2.http].get, m['CreateItem'].GetOptions().Extensions[annotations_pb2.http].body)",
        ].join("\n");
        const out = await run([".venv/bin/python", "-c", check], { cwd: dir, deadlineMs: minutes(1) });
        expect(out.output.trim()).toBe("/v1/items/{id} *");
      }

      // The README's command for the gateway's descriptor set.
      await run([bufBinary(), "build", "proto", "-o", "descriptors.binpb"], { cwd: dir, deadlineMs: minutes(2) });
      expect(existsSync(join(dir, "descriptors.binpb"))).toBe(true);
      const json = execFileSync(bufBinary(), ["build", "descriptors.binpb", "-o", "-#format=json"], { cwd: dir, encoding: "utf8" });
      const items = (JSON.parse(json) as { file: { name: string; service?: { method: { name: string; options?: Record<string, unknown> }[] }[] }[] }).file.find(
        (f) => f.name === "acme/items/v1/items.proto",
      );
      const rules = Object.fromEntries(items!.service![0]!.method.map((m) => [m.name, m.options?.["[google.api.http]"]]));
      expect(rules).toEqual({ GetItem: { get: "/v1/items/{id}" }, CreateItem: { post: "/v1/items", body: "*" }, Ping: undefined });
    },
    minutes(40),
  );
});
