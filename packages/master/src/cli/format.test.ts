import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, paint, relativeTime, stateColor, table } from "./format.ts";

describe("format", () => {
  it("aligns columns, ignoring colour codes", () => {
    const out = table(["UNIT", "PID"], [[paint("api", "green", true), "12"], ["worker-10", "3456"]], { right: [1] });
    const lines = out.split("\n").map((l) => l.replace(/\x1b\[[0-9;]*m/g, ""));
    expect(lines).toEqual(["UNIT        PID", "api          12", "worker-10  3456"]);
  });
  it("formats sizes and durations for people", () => {
    expect(formatBytes(0)).toBe("-");
    expect(formatBytes(1536)).toBe("1.5KiB");
    expect(formatBytes(512 * 1024 * 1024)).toBe("512MiB");
    expect(formatDuration(5_000)).toBe("5s");
    expect(formatDuration(93_000)).toBe("1m33s");
    expect(formatDuration(3 * 3600_000 + 60_000)).toBe("3h01m");
  });
  it("says times relative to now", () => {
    expect(relativeTime(10_000 + 4_200, 10_000)).toBe("in 4s");
    expect(relativeTime(10_000 + 300, 10_000)).toBe("in <1s");
    expect(relativeTime(10_000 - 300, 10_000)).toBe("just now");
    expect(relativeTime(10_000, 10_000 + 192_000)).toBe("3m12s ago");
  });
  it("colours states by what they ask of a person", () => {
    expect(stateColor("running")).toBe("green");
    expect(stateColor("backoff")).toBe("yellow");
    expect(stateColor("failed")).toBe("red");
    expect(stateColor("idle")).toBe("cyan");
    expect(stateColor("stopped")).toBe("gray");
  });
});
