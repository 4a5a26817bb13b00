import { create, createFileRegistry, createRegistry } from "@bufbuild/protobuf";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { anyPack, anyUnpack, AnySchema, FileDescriptorProtoSchema, file_google_protobuf_any, file_google_protobuf_wrappers, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { serveUnit, unitService, type RunningUnit } from "./serve-unit.ts";

// A service whose reply is a google.protobuf.Any: a JSON client can only read
// it if the unit resolves the packed type when writing JSON.
const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "serve_unit_json_test.proto",
    package: "hsu.test",
    syntax: "proto3",
    dependency: ["google/protobuf/wrappers.proto", "google/protobuf/any.proto"],
    service: [{ name: "Pack", method: [{ name: "Wrap", inputType: ".google.protobuf.StringValue", outputType: ".google.protobuf.Any" }] }],
  }),
  (name) => (name === "google/protobuf/any.proto" ? file_google_protobuf_any : file_google_protobuf_wrappers),
);
const Pack = registry.getService("hsu.test.Pack") as unknown as GenService<{
  wrap: { methodKind: "unary"; input: typeof StringValueSchema; output: typeof AnySchema };
}>;

describe("serveUnit speaks JSON with Any", () => {
  let unit: RunningUnit | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await unit?.shutdown(1000);
    unit = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("writes an Any packing a type of the served files' imports to a Connect JSON client", async () => {
    dir = mkdtempSync(join(tmpdir(), "hsu-json-"));
    unit = await serveUnit({
      name: "json",
      env: { HSU_LISTEN: `unix:${dir}/u.sock` },
      exitProcess: false,
      handleSignals: false,
      log: () => {},
      services: [unitService(Pack, { wrap: (req) => anyPack(StringValueSchema, create(StringValueSchema, { value: `wrapped ${req.value}` })) })],
    });
    const socket = join(dir, "u.sock");
    const transport = createConnectTransport({
      baseUrl: "http://localhost",
      httpVersion: "2",
      useBinaryFormat: false,
      jsonOptions: { registry: createRegistry(file_google_protobuf_wrappers) },
      nodeOptions: { createConnection: () => net.connect(socket) },
    });
    const reply = await createClient(Pack, transport).wrap({ value: "x" });
    expect(anyUnpack(reply, StringValueSchema)?.value).toBe("wrapped x");
  });
});
