import { describe, expect, it } from "vitest";
import { HsuError } from "../errors.ts";
import { validateResourceLimits } from "./limits.ts";

const where = { unit: "api", field: "units.api.limits" };

function rejection(input: unknown): HsuError {
  try {
    validateResourceLimits(input, where);
  } catch (error) {
    if (HsuError.is(error)) return error;
    throw error;
  }
  throw new Error("expected validateResourceLimits to throw");
}

describe("validateResourceLimits", () => {
  it("fills defaults and converts cpuShares to cpuWeight", () => {
    const limits = validateResourceLimits({ cpuShares: 1024, memoryBytes: 64 * 1024 * 1024 }, where);
    expect(limits).toEqual({ cpuWeight: 40, memoryBytes: 67108864, policy: "restart", checkIntervalMs: 1000, cpuSustainSamples: 3 });
    expect(Object.isFrozen(limits)).toBe(true);
    expect(validateResourceLimits(limits, where)).toEqual(limits);
    expect(validateResourceLimits(undefined, where).policy).toBe("restart");
  });

  it("accepts per-device I/O bandwidth", () => {
    const limits = validateResourceLimits({ ioWriteBps: { "254:0": 1048576 }, ioReadBps: 2048, policy: "log" }, where);
    expect(limits.ioWriteBps).toEqual({ "254:0": 1048576 });
    expect(limits.policy).toBe("log");
  });

  it.each([
    [{ memoryBytes: -1 }, "units.api.limits.memoryBytes", /between 1048576/],
    [{ memoryBytes: 1000 }, "units.api.limits.memoryBytes", /at least 1 MiB/],
    [{ memoryBytes: "512M" }, "units.api.limits.memoryBytes", /must be a number, got "512M"/],
    [{ cpuCores: 0 }, "units.api.limits.cpuCores", /between/],
    [{ cpuWeight: 1.5 }, "units.api.limits.cpuWeight", /whole number/],
    [{ cpuWeight: 10, cpuShares: 100 }, "units.api.limits.cpuShares", /either/],
    [{ maxOpenFiles: Number.NaN }, "units.api.limits.maxOpenFiles", /must be a number/],
    [{ policy: "explode" }, "units.api.limits.policy", /log, restart, stop, kill/],
    [{ ioWriteBps: { sda: 5 } }, "units.api.limits.ioWriteBps.sda", /major:minor/],
    [{ memoryByte: 5 }, "units.api.limits.memoryByte", /unknown resource limit/],
    ["lots", "units.api.limits", /must be an object/],
  ])("rejects %j naming the unit and field", (input, field, message) => {
    const error = rejection(input);
    expect(error.code).toBe("invalid_config");
    expect(error.where).toEqual({ unit: "api", field });
    expect(error.message).toMatch(message);
    expect(error.message).toContain('unit "api"');
  });
});
