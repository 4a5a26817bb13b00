import { HsuError } from "@hsu/client";
import { describe, expect, it } from "vitest";
import { inHsuYaml, yamlKey } from "./config-key.ts";

describe("library errors in hsu.yaml terms", () => {
  it("spells library fields the hsu.yaml way", () => {
    expect(["canTerminate", "pidFile", "gracefulTimeoutMs", "stopSignal", "processName", "health_check.initialDelayMs"].map(yamlKey)).toEqual([
      "can_terminate",
      "pid_file",
      "graceful_timeout",
      "stop_signal",
      "process_name",
      "health_check.initial_delay",
    ]);
  });

  it("re-issues an error about a unit key with its hsu.yaml path and spelling, keeping code and cause", () => {
    const lib = new HsuError("permission_denied", "HSU did not start this process and may not stop it; set canTerminate: true to allow it", { unit: "legacy", field: "canTerminate" });
    const e = inHsuYaml(lib) as HsuError;
    expect(e.message).toBe('unit "legacy": units.legacy.can_terminate: HSU did not start this process and may not stop it; set can_terminate: true to allow it');
    expect(e.code).toBe("permission_denied");
    expect(e.cause).toBe(lib);
  });

  it("rewrites a nested key (a health check's) the same way", () => {
    const lib = new HsuError("invalid_config", "expectStatus must be an HTTP status (100-599)", { unit: "api", field: "health_check.expectStatus" });
    expect((inHsuYaml(lib) as Error).message).toBe('unit "api": units.api.health_check.expect_status: expect_status must be an HTTP status (100-599)');
  });

  it("drops a field hsu.yaml does not have, and leaves other errors alone", () => {
    const internal = new HsuError("failed_precondition", "pid 7 started at tick 1, not 2", { unit: "legacy", field: "expectStartTime" });
    expect((inHsuYaml(internal) as Error).message).toBe('unit "legacy": pid 7 started at tick 1, not 2');
    const plain = new HsuError("not_found", "no unit", { unit: "x", field: "units.x.health_check" });
    expect(inHsuYaml(plain)).toBe(plain);
    const other = new Error("boom");
    expect(inHsuYaml(other)).toBe(other);
  });
});
