import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HsuError } from "../errors.ts";
import { validateManagedUnitSpec, type InvalidSpecError } from "./spec.ts";
import { fixture } from "./test-support/line-sink.ts";

function issuesOf(input: unknown): InvalidSpecError {
  try {
    validateManagedUnitSpec(input);
  } catch (err) {
    expect(HsuError.is(err, "invalid_config")).toBe(true);
    return err as InvalidSpecError;
  }
  throw new Error("expected the spec to be rejected");
}

describe("validateManagedUnitSpec", () => {
  it("applies defaults and freezes the result", () => {
    const spec = validateManagedUnitSpec({ id: "api", executable: "sh" });
    expect(spec).toMatchObject({
      id: "api",
      args: [],
      envMode: "merge",
      autoStart: true,
      gracefulTimeoutMs: 30_000,
      stopSignal: "SIGTERM",
      shell: false,
      stdout: "capture",
      stderr: "capture",
      restart: { policy: "on-failure", delayMs: 1000, backoffMultiplier: 2 },
    });
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.restart)).toBe(true);
  });

  it("names the unit and the field for a missing executable", () => {
    const err = issuesOf({ id: "api" });
    expect(err.message).toContain('unit "api"');
    expect(err.issues).toEqual([{ field: "executable", message: "is required" }]);
    expect(err.where).toEqual({ unit: "api", field: "executable" });
  });

  it("rejects an executable that is not on PATH or not executable", () => {
    expect(issuesOf({ id: "a", executable: "no-such-program-hsu" }).message).toMatch(/executable: .*not found in PATH/);
    const dir = mkdtempSync(join(tmpdir(), "hsu-spec-"));
    writeFileSync(join(dir, "plain.sh"), "#!/bin/sh\n", { mode: 0o644 });
    expect(issuesOf({ id: "a", executable: join(dir, "plain.sh") }).message).toMatch(/not executable/);
    expect(issuesOf({ id: "a", executable: "plain.sh", env: { PATH: dir } }).message).toMatch(/not executable/);
    expect(validateManagedUnitSpec({ id: "a", executable: "./exit-with.sh", cwd: fixture("") }).executable).toBe("./exit-with.sh");
  });

  it("collects every problem in one pass", () => {
    const err = issuesOf({
      id: "Bad_ID",
      executable: "sh",
      cwd: "/no/such/dir/hsu",
      gracefulTimeoutMs: -1,
      restart: { policy: "sometimes", delayMs: -5, breaker: { windowMs: -1, maxRestarts: 2 } },
      limits: { memoryMb: -10, cpu: { percent: -1 }, ok: 5 },
      stdout: "file",
      colour: "blue",
    });
    const fields = err.issues.map((i) => i.field).sort();
    expect(fields).toEqual(
      [
        "colour",
        "cwd",
        "gracefulTimeoutMs",
        "id",
        "limits.cpu.percent",
        "limits.memoryMb",
        "restart.breaker.windowMs",
        "restart.delayMs",
        "restart.policy",
        "stdout",
      ].sort(),
    );
    expect(err.message).toContain("10 problems");
    expect(err.message).toContain('restart.policy: "sometimes" is not one of "never", "on-failure", "always", "unless-stopped"');
    expect(err.message).toContain('cwd: "/no/such/dir/hsu" does not exist');
    expect(err.message).toContain("limits.memoryMb: must not be negative (got -10)");
    expect(err.message).toContain("gracefulTimeoutMs: must not be negative");
  });

  it("checks the unit id format and length", () => {
    expect(issuesOf({ id: "-x", executable: "sh" }).issues[0]?.field).toBe("id");
    expect(issuesOf({ id: "a".repeat(64), executable: "sh" }).issues[0]?.field).toBe("id");
    expect(validateManagedUnitSpec({ id: `0${"a".repeat(62)}`, executable: "sh" }).id).toHaveLength(63);
  });

  it("rejects a cwd that is a file, an unknown stop signal and an out-of-range nice", () => {
    const err = issuesOf({ id: "a", executable: "sh", cwd: fixture("exit-with.sh"), stopSignal: "SIGNOPE", nice: 40 });
    expect(err.issues.map((i) => i.field)).toEqual(["cwd", "stopSignal", "nice"]);
    expect(err.issues[0]?.message).toContain("is not a directory");
  });

  it("accepts a shell command line without PATH lookup", () => {
    expect(validateManagedUnitSpec({ id: "a", executable: "echo hi | cat", shell: true }).shell).toBe(true);
  });
});
