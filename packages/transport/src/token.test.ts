import { describe, expect, it } from "vitest";
import { checkBearer, newToken } from "./token.ts";

describe("checkBearer", () => {
  const token = newToken();
  it("accepts the right token", () => expect(checkBearer(`Bearer ${token}`, token)).toBe("ok"));
  it("tells a missing header from a wrong token", () => {
    expect(checkBearer(undefined, token)).toBe("missing");
    expect(checkBearer("Basic abc", token)).toBe("missing");
    expect(checkBearer("Bearer nope", token)).toBe("wrong");
    expect(checkBearer(`Bearer ${token}x`, token)).toBe("wrong");
  });
  it("refuses everything when no token is configured", () => {
    expect(checkBearer("Bearer anything", undefined)).toBe("missing");
    expect(checkBearer("Bearer ", "")).toBe("missing");
  });
});
