import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { explain } from "./explain.ts";

describe("explain", () => {
  it("UNAVAILABLE is a master that cannot be reached, unless the master said its caller's JWT cannot be checked now", () => {
    expect(explain(new ConnectError("connect ECONNREFUSED 127.0.0.1:7001", Code.Unavailable))).toMatch(/^cannot reach the master \(connect ECONNREFUSED 127\.0\.0\.1:7001\); is it running\?/);
    const idpDown = "the JWT cannot be checked now: cannot fetch the key set of http://idp: fetch failed";
    expect(explain(new ConnectError(idpDown, Code.Unavailable))).toBe(idpDown);
  });
});
