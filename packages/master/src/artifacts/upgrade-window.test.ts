import { describe, expect, it } from "vitest";
import { windowState } from "./upgrade-window.ts";

describe("upgrade.window", () => {
  const at = (iso: string) => new Date(iso);
  it("is open in every minute the expression matches, with or without a seconds field", () => {
    expect(windowState("* 2-4 * * *", at("2026-12-03T03:30:45"))).toEqual({ open: true });
    expect(windowState("0 30 3 * * *", at("2026-12-03T03:30:45"))).toEqual({ open: true });
    expect(windowState("* 2-4 * * 6,0", at("2026-12-05T02:00:00"))).toEqual({ open: true }); // a Saturday
  });
  it("is closed otherwise, and says when it opens", () => {
    const s = windowState("* 2-4 * * *", at("2026-12-03T05:00:00"));
    expect(s.open).toBe(false);
    expect(!s.open && s.next?.getTime()).toBe(at("2026-12-04T02:00:00").getTime());
    expect(windowState("0 30 3 * * *", at("2026-12-03T03:31:00")).open).toBe(false);
  });
});
