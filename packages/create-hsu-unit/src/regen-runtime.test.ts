import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findAssetDirs } from "./assets.ts";
import { createUnit, regenUnit } from "./generator.ts";
import { listTree, makeTempDir } from "./test-support/temp.ts";

// A project made by an older create-hsu-unit has the older runtime: regen
// must bring every tool-owned runtime file to what the template renders
// today, and leave the user's files byte for byte.
const echoProto = join(findAssetDirs().templates, "../examples/echo/proto/hsu/examples/echo/v1/echo.proto");
const quiet = () => {};
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function temp(): string {
  const t = makeTempDir("hsu-regen-rt-");
  cleanups.push(t.cleanup);
  return t.dir;
}

/** Per language: the runtime folders the tool owns, and files that are the user's. */
const cases = {
  go: { runtime: ["internal/hsu/", "tools/protogen/"], user: ["internal/services/echo_service.go", "cmd/unit/main.go"] },
  python: { runtime: ["echo/runtime/", "scripts/gen_proto.py"], user: ["echo/services/echo_service.py", "echo/__main__.py"] },
  rust: { runtime: ["src/hsu/", "codegen/src/"], user: ["src/services/echo_service.rs", "src/main.rs"] },
} as const;

describe("regen refreshes the runtime", () => {
  for (const [language, { runtime, user }] of Object.entries(cases)) {
    it(`${language}: an old runtime is replaced, a missing file comes back, user files stay`, async () => {
      const root = temp();
      const fresh = join(root, "fresh");
      const old = join(root, "old");
      for (const dir of [fresh, old]) await createUnit({ name: "echo", language: language as "go", protoFile: echoProto, dir, generate: false, log: quiet });
      const owned = listTree(fresh).filter((p) => runtime.some((r) => (r.endsWith("/") ? p.startsWith(r) : p === r)));
      expect(owned.length, "runtime files found").toBeGreaterThan(2);
      const [changed, removed, ...rest] = owned;
      // The older template: one runtime file had other content, one did not exist yet.
      writeFileSync(join(old, changed!), "an older runtime\n");
      rmSync(join(old, removed!));
      // The user's code, which regen must never touch.
      for (const file of user) writeFileSync(join(old, file), `${readFileSync(join(old, file), "utf8")}\n// the user's own edit\n`);
      const userBefore = user.map((file) => readFileSync(join(old, file)));

      const result = await regenUnit({ dir: old, generate: false, log: quiet });

      for (const file of [changed!, removed!, ...rest]) {
        expect(readFileSync(join(old, file), "utf8"), file).toBe(readFileSync(join(fresh, file), "utf8"));
      }
      expect(result.written).toEqual(expect.arrayContaining([changed, removed]));
      expect(user.map((file) => readFileSync(join(old, file)))).toEqual(userBefore);
      expect(result.written.filter((w) => (user as readonly string[]).includes(w))).toEqual([]);
    });

    it(`${language}: every runtime file says it is the tool's and where the user's code goes`, async () => {
      const dir = join(temp(), "p");
      await createUnit({ name: "echo", language: language as "go", protoFile: echoProto, dir, generate: false, log: quiet });
      const files = listTree(dir).filter((p) => runtime.some((r) => (r.endsWith("/") ? p.startsWith(r) : p === r)));
      for (const file of files) {
        const head = readFileSync(join(dir, file), "utf8").split("\n").slice(0, 4).join("\n");
        expect(head, file).toMatch(/DO NOT EDIT|do not edit/);
        expect(head, file).toMatch(/create-hsu-unit regen/);
      }
      expect(existsSync(join(dir, user[0]))).toBe(true);
    });
  }
});

describe("regen adds what a new Go stub imports", () => {
  it("a new RPC of google.protobuf.Empty gets its emptypb import, once", async () => {
    const root = temp();
    const protoDir = join(root, "src");
    const proto = join(protoDir, "svc.proto");
    const head = 'syntax = "proto3";\npackage acme.v1;\nimport "google/protobuf/empty.proto";\nmessage Item { string id = 1; }\n';
    mkdirSync(protoDir);
    writeFileSync(proto, `${head}service StoreService {\n  rpc Get(Item) returns (Item);\n}\n`);
    const dir = join(root, "p");
    await createUnit({ name: "store", language: "go", protoFile: proto, dir, generate: false, log: quiet });
    const impl = join(dir, "internal/services/store_service.go");
    expect(readFileSync(impl, "utf8")).not.toContain("emptypb");
    writeFileSync(
      join(dir, "proto/acme/v1/svc.proto"),
      `${head}service StoreService {\n  rpc Get(Item) returns (Item);\n  rpc Clear(google.protobuf.Empty) returns (google.protobuf.Empty);\n  rpc Reset(google.protobuf.Empty) returns (Item);\n}\n`,
    );
    const result = await regenUnit({ dir, generate: false, log: quiet });
    expect(result.stubsAdded).toEqual(["StoreService.Clear", "StoreService.Reset"]);
    const text = readFileSync(impl, "utf8");
    expect(text.match(/\temptypb "google.golang.org\/protobuf\/types\/known\/emptypb"\n/g)).toHaveLength(1);
    expect(text).toContain("func (s *StoreServiceImpl) Clear(ctx context.Context, req *emptypb.Empty) (*emptypb.Empty, error)");
  });
});
