import { describe, expect, it } from "vitest";
import { anyGlob, globMatch } from "./glob.ts";

describe("globMatch", () => {
  it.each([
    ["echo", "echo", true],
    ["echo", "echo2", false],
    ["worker-*", "worker-1", true],
    ["worker-*", "worker-", true],
    ["worker-*", "xworker-1", false],
    ["pkg.S/*", "pkg.S/Method", true],
    ["pkg.S/*", "pkgXS/Method", false],
    ["*", "anything/at/all", true],
    ["a?c", "abc", true],
    ["a?c", "ac", false],
    ["(a|b)", "a", false],
    ["[ab]", "a", false],
  ] as const)("%s against %s: %s", (p, v, want) => expect(globMatch(p, v)).toBe(want));

  it("an empty list matches everything", () => {
    expect(anyGlob([], "x")).toBe(true);
    expect(anyGlob(["y"], "x")).toBe(false);
  });
});
