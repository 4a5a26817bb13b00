import { describe, expect, it } from "vitest";
import { compareVersions, parseIndex } from "./index-file.ts";

describe("compareVersions", () => {
  it("orders numbers by value, pre-releases before their release, words by text", () => {
    const sorted = ["2.0.0", "1.10.0", "1.9.3", "1.9.3-rc.2", "1.9.3-rc.10", "v1.2", "1.2.0", "1.9.3-beta", "0.9"].sort(compareVersions);
    expect(sorted).toEqual(["0.9", "v1.2", "1.2.0", "1.9.3-beta", "1.9.3-rc.2", "1.9.3-rc.10", "1.9.3", "1.10.0", "2.0.0"]);
    expect(compareVersions("1.0+build.5", "1.0")).toBe(0);
  });
});

describe("parseIndex", () => {
  const base = "https://releases.example.com/app/index.json";
  it("resolves urls and signatures against the index, lower-cases sha256", () => {
    const [e] = parseIndex(JSON.stringify({ versions: [{ version: "1.0", url: "app-1.0.tar.gz", sha256: "A".repeat(64), signature: "sigs/app-1.0.minisig" }] }), base);
    expect(e).toEqual({ version: "1.0", url: "https://releases.example.com/app/app-1.0.tar.gz", sha256: "a".repeat(64), signature: "https://releases.example.com/app/sigs/app-1.0.minisig" });
  });
  it("refuses what is not an index, naming the entry", () => {
    expect(() => parseIndex("{", base)).toThrow(/index\.json: not JSON/);
    expect(() => parseIndex("{}", base)).toThrow(/no versions list/);
    expect(() => parseIndex(JSON.stringify({ versions: [{ url: "a.tar.gz" }] }), base)).toThrow(/versions\[0\] has no version/);
    expect(() => parseIndex(JSON.stringify({ versions: [{ version: "1", url: "a.exe" }] }), base)).toThrow(/versions\[0\] \(1\): a\.exe is not an http\(s\) or file: URL of a \.tar\.gz/);
    expect(() => parseIndex(JSON.stringify({ versions: [{ version: "1", url: "a.tgz", sha256: "xyz" }] }), base)).toThrow(/sha256 is not 64 hex digits/);
    expect(() => parseIndex(JSON.stringify({ versions: [{ version: "1", url: "ftp://x/a.tgz" }] }), base)).toThrow(/is not an http\(s\) or file: URL/);
  });
});
