// The TypeScript template end to end: install, generate, compile stubs of
// every streaming kind, and keep compiling after regen adds new RPCs.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUnit, regenUnit } from "./generator.ts";
import { packSdk } from "./test-support/sdk.ts";
import { makeTempDir } from "./test-support/temp.ts";

const proto = `syntax = "proto3";
package kinds.v1;
service KindsService {
  rpc Unary(Msg) returns (Msg);
  rpc ServerStream(Msg) returns (stream Msg);
  rpc ClientStream(stream Msg) returns (Msg);
  rpc Bidi(stream Msg) returns (stream Msg);
}
message Msg { string text = 1; }
`;

describe("templates/ts", () => {
  const temp = makeTempDir("hsu-ts-template-");
  let sdk: string;
  beforeAll(() => {
    sdk = packSdk();
  });
  afterAll(() => temp.cleanup());

  it("builds with a stub for each kind of RPC, and again after regen adds RPCs and a service", async () => {
    writeFileSync(join(temp.dir, "kinds.proto"), proto);
    const dir = join(temp.dir, "kinds");
    await createUnit({ name: "kinds", language: "ts", protoFile: "kinds.proto", dir, cwd: temp.dir, sdkDir: sdk, stdio: "pipe", log: () => {} });
    const build = () => execFileSync("npm", ["run", "build"], { cwd: dir, stdio: "pipe", encoding: "utf8" });
    build();
    const impl = readFileSync(join(dir, "src/services/kinds-service.ts"), "utf8");
    expect(impl).toMatch(/async \*serverStream\(_request, _context\)/);
    expect(impl).toMatch(/async clientStream\(_requests, _context\)/);
    expect(impl).toMatch(/async \*bidi\(_requests, _context\)/);

    const protoPath = join(dir, "proto/kinds/v1/kinds.proto");
    writeFileSync(
      protoPath,
      readFileSync(protoPath, "utf8")
        .replace("rpc Bidi(", "rpc Another(stream Msg) returns (stream Msg);\n  rpc Bidi(")
        .concat("service ExtraService {\n  rpc Extra(Msg) returns (Msg);\n}\n"),
    );
    const result = await regenUnit({ dir, stdio: "pipe", log: () => {} });
    expect(result.stubsAdded.sort()).toEqual(["ExtraService.Extra", "KindsService.Another"]);
    build();
    const test = execFileSync("npm", ["test"], { cwd: dir, stdio: "pipe", encoding: "utf8" });
    expect(test).toMatch(/pass 1\b/);
  });
});
