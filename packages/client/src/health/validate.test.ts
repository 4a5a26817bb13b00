import { describe, expect, it } from "vitest";
import { HsuError } from "../errors.ts";
import { validateHealthCheckSpec } from "./validate.ts";

const where = { unit: "api", field: "units.api.health" };

function invalid(input: unknown): HsuError {
  try {
    validateHealthCheckSpec(input, where);
  } catch (err) {
    if (HsuError.is(err, "invalid_config")) return err;
    throw err;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe("validateHealthCheckSpec", () => {
  it("applies the defaults and freezes the result", () => {
    const spec = validateHealthCheckSpec({ type: "tcp", port: 8080 }, where);
    expect(spec).toEqual({ type: "tcp", port: 8080, intervalMs: 10000, timeoutMs: 2000, initialDelayMs: 0, successThreshold: 1, failureThreshold: 3 });
    expect(Object.isFrozen(spec)).toBe(true);
    expect(validateHealthCheckSpec({ type: "grpc", address: "unix:/tmp/a.sock" }, where)).toMatchObject({ service: "" });
    expect(validateHealthCheckSpec({ type: "http", url: "http://x/h", method: "head", expectStatus: [200, 204] }, where)).toMatchObject({ method: "HEAD", expectStatus: [200, 204] });
    expect(validateHealthCheckSpec({ type: "exec", command: "true", args: ["-x"], env: { A: "1" } }, where)).toMatchObject({ command: "true", args: ["-x"] });
  });

  it("names the unit and the field of each problem", () => {
    const cases: [unknown, string, RegExp][] = [
      [null, "units.api.health", /must be an object/],
      [{ type: "ping" }, "units.api.health.type", /one of process, http, tcp, exec, grpc/],
      [{ type: "process", intervalMs: 0 }, "units.api.health.intervalMs", /integer >= 1/],
      [{ type: "process", initialDelayMs: -1 }, "units.api.health.initialDelayMs", /integer >= 0/],
      [{ type: "process", failureThreshold: 1.5 }, "units.api.health.failureThreshold", /integer/],
      [{ type: "process", interval: 5 }, "units.api.health.interval", /not a field/],
      [{ type: "http", url: "ftp://x" }, "units.api.health.url", /http or https/],
      [{ type: "http", url: "nope" }, "units.api.health.url", /absolute/],
      [{ type: "http", url: "http://x", expectStatus: [500, 200] }, "units.api.health.expectStatus", /range/],
      [{ type: "http", url: "http://x", headers: { a: 1 } }, "units.api.health.headers.a", /string/],
      [{ type: "tcp", port: 70000 }, "units.api.health.port", /1-65535/],
      [{ type: "tcp", path: "/s", port: 1 }, "units.api.health.path", /not both/],
      [{ type: "exec" }, "units.api.health.command", /required/],
      [{ type: "exec", command: "x", args: [1] }, "units.api.health.args", /array of strings/],
      [{ type: "grpc", address: "localhost" }, "units.api.health.address", /host:port/],
    ];
    for (const [input, field, message] of cases) {
      const err = invalid(input);
      expect(err.where).toEqual({ unit: "api", field });
      expect(err.message).toMatch(message);
      expect(err.message).toContain(`unit "api"`);
    }
  });
});
