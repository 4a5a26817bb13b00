// Where a TypeScript unit's @hsu/* comes from, and how create and regen
// record it: always relative to the project, so the project moves.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createUnit, regenUnit } from "./generator.ts";
import { compareVersions, parseSdkChoice, patchPackageJson } from "./sdk.ts";
import { listTree, makeTempDir } from "./test-support/temp.ts";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
const quiet = () => {};

function temp(): string {
  const t = makeTempDir("hsu-sdk-test-");
  cleanups.push(t.cleanup);
  return t.dir;
}

/** A directory of `pnpm pack`-named tarballs; their content is not read without install. */
function tarballDir(version: string): string {
  const dir = join(temp(), `sdk-${version}`);
  mkdirSync(dir);
  for (const p of ["proto", "transport", "server", "client"]) writeFileSync(join(dir, `hsu-${p}-${version}.tgz`), `${p} ${version}`);
  return dir;
}

function readJson(file: string): Record<string, any> {
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, any>;
}

describe("parseSdkChoice", () => {
  it("takes bundled/registry/auto from the flag, anything else as a directory, the flag over HSU_SDK_DIR", () => {
    expect(parseSdkChoice(undefined, undefined, "/w")).toEqual({ kind: "auto" });
    expect(parseSdkChoice("bundled", "/env", "/w")).toEqual({ kind: "bundled" });
    expect(parseSdkChoice("registry", undefined, "/w")).toEqual({ kind: "registry" });
    expect(parseSdkChoice("./tars", "/env", "/w")).toEqual({ kind: "dir", dir: "/w/tars" });
    expect(parseSdkChoice(undefined, "bundled", "/w")).toEqual({ kind: "dir", dir: "/w/bundled" });
  });
});

describe("compareVersions", () => {
  it("orders numerically, a pre-release before its release", () => {
    expect(compareVersions("0.10.0", "0.9.0")).toBeGreaterThan(0);
    expect(compareVersions("1.0.0-next.1", "1.0.0")).toBeLessThan(0);
    expect(compareVersions("0.1.0", "0.1.0")).toBe(0);
  });
});

describe("vendored SDK", () => {
  it("copies tarballs into vendor/hsu and writes only relative file: specs, and regen switches sources", async () => {
    const sdk = tarballDir("0.1.0");
    const root = temp();
    const dir = join(root, "unit");
    await createUnit({ name: "unit", language: "ts", dir, cwd: root, sdkDir: sdk, generate: false, log: quiet });
    expect(listTree(join(dir, "vendor"))).toEqual(["hsu/hsu-client-0.1.0.tgz", "hsu/hsu-proto-0.1.0.tgz", "hsu/hsu-server-0.1.0.tgz", "hsu/hsu-transport-0.1.0.tgz"]);
    for (const file of listTree(dir).filter((f) => !f.endsWith(".tgz"))) {
      expect(readFileSync(join(dir, file), "utf8"), file).not.toContain(root);
    }
    const pkg = readJson(join(dir, "package.json"));
    expect(pkg["dependencies"]["@hsu/server"]).toBe("file:vendor/hsu/hsu-server-0.1.0.tgz");
    expect(pkg["overrides"]["@hsu/transport"]).toBe("file:vendor/hsu/hsu-transport-0.1.0.tgz");

    await regenUnit({ dir, sdk: { kind: "dir", dir: tarballDir("0.2.0") }, generate: false, log: quiet });
    expect(listTree(join(dir, "vendor/hsu"))).toEqual(["hsu-client-0.2.0.tgz", "hsu-proto-0.2.0.tgz", "hsu-server-0.2.0.tgz", "hsu-transport-0.2.0.tgz"]);
    expect(readJson(join(dir, "package.json"))["dependencies"]["@hsu/proto"]).toBe("file:vendor/hsu/hsu-proto-0.2.0.tgz");
    expect(readJson(join(dir, "hsu-unit.json"))["npm"]["server"]).toBe("file:vendor/hsu/hsu-server-0.2.0.tgz");

    await regenUnit({ dir, sdk: { kind: "registry" }, generate: false, log: quiet });
    const registry = readJson(join(dir, "package.json"));
    expect(registry["dependencies"]["@hsu/server"]).toBe("0.1.0");
    expect(registry["overrides"]).toBeUndefined();
    expect(listTree(dir).some((f) => f.startsWith("vendor/"))).toBe(false);
  });

  it("refuses a --sdk directory without the server tarball, naming what to pack", async () => {
    const empty = temp();
    await expect(createUnit({ name: "unit", language: "ts", dir: join(temp(), "u"), sdkDir: empty, generate: false, log: quiet })).rejects.toThrow(
      /no hsu-proto-\*\.tgz.*pnpm pack/,
    );
  });

  it("patchPackageJson leaves the user's own overrides and dependencies alone", () => {
    const dir = temp();
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ dependencies: { "@hsu/server": "0.1.0", left: "1.0.0" }, overrides: { left: "1.0.1", "@hsu/proto": "file:old.tgz" } }),
    );
    patchPackageJson(dir, { npm: { server: "0.2.0" }, npmOverrides: [] });
    expect(readJson(join(dir, "package.json"))).toEqual({ dependencies: { "@hsu/server": "0.2.0", left: "1.0.0" }, overrides: { left: "1.0.1" } });
  });
});
