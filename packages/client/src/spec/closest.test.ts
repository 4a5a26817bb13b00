import { describe, expect, it } from "vitest";
import { closest } from "./closest.ts";

describe("closest", () => {
  const commands = ["up", "ps", "logs", "start", "stop", "restart", "scale", "apply", "down", "validate", "schema"];

  it("suggests the nearest candidate for a typo, and nothing for a wild guess", () => {
    expect(closest("pss", commands)).toBe("ps");
    expect(closest("sotp", commands)).toBe("stop");
    expect(closest("log", commands)).toBe("logs");
    expect(closest("valdate", commands)).toBe("validate");
    expect(closest("kubectl", commands)).toBeUndefined();
    expect(closest("graceful_timout", ["graceful_timeout", "stop_signal"])).toBe("graceful_timeout");
  });

  it("with prefix, a beginning of two letters or more counts as one edit", () => {
    expect(closest("val", commands)).toBeUndefined();
    expect(closest("val", commands, { prefix: true })).toBe("validate");
    expect(closest("v", commands, { prefix: true })).toBeUndefined();
  });
});
