import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { HsuError, type HsuErrorCode } from "./errors.ts";
import { HsuError as LightHsuError } from "./hsu-error.ts";

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
  it("maps every code onto the gRPC code of its name, both ways", () => {
    const expected: Record<HsuErrorCode, Code> = {
      invalid_config: Code.InvalidArgument, invalid_argument: Code.InvalidArgument, not_found: Code.NotFound,
      already_exists: Code.AlreadyExists, failed_precondition: Code.FailedPrecondition, illegal_transition: Code.FailedPrecondition,
      unavailable: Code.Unavailable, deadline_exceeded: Code.DeadlineExceeded, permission_denied: Code.PermissionDenied,
      unauthenticated: Code.Unauthenticated, resource_exhausted: Code.ResourceExhausted, unsupported: Code.Unimplemented,
      cancelled: Code.Canceled, internal: Code.Internal,
    };
    for (const [code, grpc] of Object.entries(expected) as [HsuErrorCode, Code][]) {
      const e = new HsuError(code, "x");
      expect(e.grpcCode, code).toBe(grpc);
      expect(e.toConnectError()).toBeInstanceOf(ConnectError);
      if (code !== "invalid_config" && code !== "illegal_transition" && code !== "internal") expect(HsuError.from(new ConnectError("x", grpc)).code).toBe(code);
    }
  });
  it("is one class whether it came through @hsu/client/errors or the connect-free hsu-error.ts", () => {
    expect(LightHsuError).toBe(HsuError);
    // A ConnectError is recognised as connect itself recognises one, not by this copy's class.
    const foreign = Object.assign(new Error("x"), { name: "ConnectError", code: Code.NotFound, rawMessage: "x", details: [], metadata: new Headers(), cause: undefined });
    expect(HsuError.from(foreign).code).toBe("not_found");
    expect(HsuError.from(Object.assign(new Error("y"), { name: "ConnectError" })).code).toBe("internal");
  });
});
