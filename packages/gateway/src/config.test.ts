import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GatewayConfigError, loadGatewayConfig, validateGatewayConfig } from "./config.ts";

const route = { unit: "echo", descriptors: "/abs/echo.binpb" };

describe("validateGatewayConfig", () => {
  it("fills in the defaults", () => {
    expect(validateGatewayConfig({ listen: "127.0.0.1:8080", routes: [route] })).toEqual({
      listen: "127.0.0.1:8080",
      routes: [{ unit: "echo", descriptors: ["/abs/echo.binpb"], prefix: "", auth: "required" }],
      limits: { maxBodyBytes: 1048576, timeoutMs: 30000, headerTimeoutMs: 10000 },
    });
  });

  it("lists every problem with its path", () => {
    let err: GatewayConfigError | undefined;
    try {
      validateGatewayConfig(
        {
          listen: "8080",
          routes: [{ unit: "Echo", descriptors: "rel.binpb", prefix: "/a/../b", auth: "maybe" }],
          cors: { origins: ["http://a/b"] },
          limits: { rate: { requests: 0 } },
          extra: 1,
        },
        "gw.json",
      );
    } catch (e) {
      err = e as GatewayConfigError;
    }
    expect(err).toBeInstanceOf(GatewayConfigError);
    const text = err!.problems.join("\n");
    expect(text).toMatch(/\.extra: unknown field/);
    expect(text).toMatch(/\.listen: expected host:port/);
    expect(text).toMatch(/\.routes\[0\]\.unit: expected a unit id/);
    expect(text).toMatch(/\.routes\[0\]\.descriptors: "rel.binpb" is not an absolute path/);
    expect(text).toMatch(/\.routes\[0\]\.prefix/);
    expect(text).toMatch(/\.routes\[0\]\.auth: expected "required" or "none"/);
    expect(text).toMatch(/\.cors\.origins: "http:\/\/a\/b" is not an origin/);
    expect(text).toMatch(/\.limits\.rate\.requests: expected a whole number of at least 1/);
    expect(err!.message).toMatch(/^gw\.json: \d+ problems:/);
  });

  it("refuses a route given twice and client_auth without a CA", () => {
    expect(() => validateGatewayConfig({ listen: "127.0.0.1:1", routes: [route, route] })).toThrow(/routed twice/);
    expect(() => validateGatewayConfig({ listen: "127.0.0.1:1", routes: [route], tls: { certFile: "/c", keyFile: "/k", clientAuth: "require" } })).toThrow(/needs clientCaFile/);
  });

  it("says when the file is missing or not JSON", () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-config-"));
    expect(() => loadGatewayConfig(join(dir, "none.json"))).toThrow(/cannot read it: ENOENT/);
    writeFileSync(join(dir, "bad.json"), "{listen:");
    expect(() => loadGatewayConfig(join(dir, "bad.json"))).toThrow(/is not JSON/);
    rmSync(dir, { recursive: true, force: true });
  });
});
