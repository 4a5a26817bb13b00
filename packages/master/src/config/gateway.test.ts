import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseDeployment, publicServices, SpecError } from "./index.ts";

const dir = mkdtempSync(join(tmpdir(), "hsu-gateway-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "echo.binpb"), "");
const units = (gateway: string, extra = "") => `units:
  echo:
    kind: integrated
    command: ${process.execPath}
  web:
    command: ${process.execPath}
${extra}
  gateway:
    command: ${process.execPath}
    gateway:
${gateway}
`;

function issues(text: string): string {
  try {
    parseDeployment(text, "hsu.yaml", dir);
  } catch (e) {
    if (e instanceof SpecError) return e.message;
    throw e;
  }
  throw new Error("the spec validated");
}

describe("gateway: in hsu.yaml", () => {
  it("is normalized for the gateway: absolute descriptors, bytes, ms, defaults", () => {
    const d = parseDeployment(
      units(`      listen: 127.0.0.1:8080
      routes:
        - { unit: echo, descriptors: echo.binpb, prefix: /echo, auth: none }
      limits: { max_body: 64KiB, timeout: 5s, rate: { requests: 10 } }
      cors: { origins: ["http://127.0.0.1:3000"], max_age: 1m }`),
      "hsu.yaml",
      dir,
    );
    expect(d.units.gateway!.gateway).toEqual({
      listen: "127.0.0.1:8080",
      routes: [{ unit: "echo", descriptors: [join(dir, "echo.binpb")], prefix: "/echo", auth: "none" }],
      cors: { origins: ["http://127.0.0.1:3000"], headers: [], maxAgeMs: 60000 },
      limits: { maxBodyBytes: 65536, timeoutMs: 5000, headerTimeoutMs: 10000, rate: { requests: 10, perMs: 1000, burst: 10 } },
    });
  });

  it("says, with path:line, which route names no integrated unit, a missing file, a bad prefix", () => {
    const text = issues(
      units(`      listen: 127.0.0.1:8080
      routes:
        - { unit: web, descriptors: echo.binpb }
        - { unit: nope, descriptors: missing.binpb }
        - { unit: echo, descriptors: echo.binpb, prefix: /a/../b }`),
    );
    expect(text).toMatch(/hsu\.yaml:13:\d+: units\.gateway\.gateway\.routes\[0\]\.unit: "web" is managed: a gateway routes to integrated units only/);
    expect(text).toMatch(/hsu\.yaml:14:\d+: units\.gateway\.gateway\.routes\[1\]\.unit: no unit "nope" in this hsu\.yaml; the integrated units: echo/);
    expect(text).toMatch(/hsu\.yaml:15:\d+: units\.gateway\.gateway\.routes\[2\]\.prefix: expected a path prefix/);
  });

  it("checks that the descriptor files exist", () => {
    const text = issues(units(`      listen: 127.0.0.1:8080\n      routes:\n        - { unit: echo, descriptors: missing.binpb }`));
    expect(text).toMatch(/routes\[0\]\.descriptors: cannot read .*missing\.binpb \(ENOENT\); build it with `buf build/);
  });

  it("needs listen and routes, and a managed unit", () => {
    expect(issues(units("      prefix: /x"))).toMatch(/"listen" is required[\s\S]*"routes" is required|unknown field "prefix"/);
    const integrated = issues(`units:\n  gw:\n    kind: integrated\n    command: ${process.execPath}\n    gateway: { listen: "127.0.0.1:1", routes: [] }\n`);
    expect(integrated).toMatch(/a gateway unit is managed/);
  });
});

describe("publicServices", () => {
  it("allows the services of auth: none routes only", () => {
    writeFileSync(join(dir, "b.binpb"), "");
    const d = parseDeployment(
      units(`      listen: 127.0.0.1:8080
      routes:
        - { unit: echo, descriptors: echo.binpb, services: [pkg.Open], auth: none }
        - { unit: echo, descriptors: echo.binpb, prefix: /all, auth: none }
        - { unit: echo, descriptors: b.binpb, prefix: /closed, services: [pkg.Closed] }`),
      "hsu.yaml",
      dir,
    );
    const open = publicServices(d);
    expect(open("echo", "pkg.Open")).toBe(true);
    expect(open("echo", "pkg.Other")).toBe(true); // the /all route names no services: every one but the HSU ones
    expect(open("echo", "hsu.core.v1.CoreService")).toBe(false);
    expect(open("web", "pkg.Open")).toBe(false);
    const d2 = parseDeployment(units(`      listen: 127.0.0.1:8080\n      routes:\n        - { unit: echo, descriptors: echo.binpb, services: [pkg.Open], auth: none }\n        - { unit: echo, descriptors: b.binpb, prefix: /c, services: [pkg.Closed] }`), "hsu.yaml", dir);
    expect(publicServices(d2)("echo", "pkg.Closed")).toBe(false);
  });
});
