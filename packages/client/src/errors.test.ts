import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { HsuError } from "./errors.ts";

describe("HsuError", () => {
  it("prefixes the message with where it happened", () => {
    const e = new HsuError("invalid_config", "expected a duration", { file: "hsu.yaml", line: 4, field: "units.api.interval" });
    expect(e.message).toBe('hsu.yaml:4: units.api.interval: expected a duration');
    expect(e.grpcCode).toBe(Code.InvalidArgument);
  });
  it("converts ConnectError codes and keeps the cause", () => {
    const cause = new ConnectError("gone", Code.Unavailable);
    const e = HsuError.from(cause);
    expect(e.code).toBe("unavailable");
    expect(e.cause).toBe(cause);
    expect(HsuError.from(e)).toBe(e);
  });
  it("guards by name and code, not by class identity", () => {
    const foreign = Object.assign(new Error("x"), { name: "HsuError", code: "not_found" });
    expect(HsuError.is(foreign)).toBe(true);
    expect(HsuError.is(foreign, "internal")).toBe(false);
    expect(HsuError.is(new Error("x"))).toBe(false);
  });
  it("round-trips onto the wire", () => {
    expect(new HsuError("permission_denied", "no").toConnectError().code).toBe(Code.PermissionDenied);
  });
});
