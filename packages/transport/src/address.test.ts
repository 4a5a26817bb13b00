import { describe, expect, it } from "vitest";
import { AddressError, formatAddress, parseAddress } from "./address.ts";

describe("parseAddress", () => {
  it.each([
    ["unix:/tmp/a.sock", { kind: "unix", path: "/tmp/a.sock" }],
    ["unix:///tmp/a.sock", { kind: "unix", path: "/tmp/a.sock" }],
    ["127.0.0.1:0", { kind: "tcp", host: "127.0.0.1", port: 0 }],
    ["tcp://localhost:50051", { kind: "tcp", host: "localhost", port: 50051 }],
    ["[::1]:8080", { kind: "tcp", host: "::1", port: 8080 }],
  ])("parses %s", (text, want) => {
    expect(parseAddress(text)).toEqual(want);
  });

  it.each([
    ["unix:relative.sock", /must be absolute/],
    ["localhost", /expected unix:\/path\/to.sock or host:port/],
    ["1.2.3.4:70000", /above 65535/],
    [`unix:/${"x".repeat(120)}`, /at most 107/],
  ])("rejects %s with a reason", (text, reason) => {
    expect(() => parseAddress(text)).toThrow(AddressError);
    expect(() => parseAddress(text)).toThrow(reason);
  });

  it("formats canonically and round-trips", () => {
    for (const a of ["unix:/tmp/x.sock", "127.0.0.1:1", "[::1]:2"]) expect(formatAddress(parseAddress(a))).toBe(a);
  });
});
