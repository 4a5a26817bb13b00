import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRoutes, routedByDefault } from "./descriptors.ts";

const root = join(import.meta.dirname, "..", "..", "..");
const dir = mkdtempSync(join(tmpdir(), "gw-desc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const set = join(dir, "all.binpb");

beforeAll(() => {
  // The repository's protos: hsu.core, hsu.master, grpc.health and grpc.reflection services in one set.
  execFileSync(join(root, "node_modules", ".bin", "buf"), ["build", join(root, "proto"), "-o", set], { cwd: root });
}, 60_000);

describe("loadRoutes", () => {
  it("routes every service but hsu.core, hsu.master and reflection by default; health stays", () => {
    const { services } = loadRoutes([{ unit: "u", descriptors: [set], prefix: "", auth: "none" }]);
    const names = services.map((s) => s.service.typeName);
    expect(names).toContain("grpc.health.v1.Health");
    expect(names.some((n) => !routedByDefault(n))).toBe(false);
  });

  it("picks the named services, and names the ones there when one is unknown", () => {
    const { services } = loadRoutes([{ unit: "u", descriptors: [set], services: ["hsu.core.v1.CoreService"], prefix: "/x", auth: "required" }]);
    expect(services.map((s) => [s.service.typeName, s.prefix])).toEqual([["hsu.core.v1.CoreService", "/x"]]);
    expect(() => loadRoutes([{ unit: "u", descriptors: [set], services: ["no.Such"], prefix: "", auth: "none" }])).toThrow(/no service "no\.Such" in .*; the services there: .*grpc\.health\.v1\.Health/);
  });

  it("says what is wrong with a missing file and with one that is not a descriptor set", () => {
    expect(() => loadRoutes([{ unit: "u", descriptors: [join(dir, "gone.binpb")], prefix: "", auth: "none" }])).toThrow(/cannot read the descriptor set \(ENOENT\); build it with `buf build/);
    const junk = join(dir, "junk.binpb");
    writeFileSync(junk, "this is not protobuf at all, it is text");
    expect(() => loadRoutes([{ unit: "u", descriptors: [junk], prefix: "", auth: "none" }])).toThrow(/not a FileDescriptorSet/);
  });

  it("refuses one service under one prefix for two units", () => {
    expect(() =>
      loadRoutes([
        { unit: "a", descriptors: [set], services: ["grpc.health.v1.Health"], prefix: "", auth: "none" },
        { unit: "b", descriptors: [set], services: ["grpc.health.v1.Health"], prefix: "", auth: "none" },
      ]),
    ).toThrow(/routed to both "a" and "b"/);
  });
});
