import { describe, expect, it } from "vitest";
import { controlToken } from "./tcp-credentials.ts";

describe("controlToken (HSU_CONTROL_TOKEN)", () => {
  const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
  it("takes an API token, a JWT or a control token as it is", () => {
    for (const t of ["hsu_1a2b3c4d_secret-part", jwt, "c0ntrol+token/=="]) expect(controlToken({ HSU_CONTROL_TOKEN: t })).toBe(t);
  });
  it("drops whitespace around it and a pasted `Bearer ` prefix", () => {
    for (const v of [`${jwt}\n`, `${jwt}\r\n`, `  ${jwt}\t`, `Bearer ${jwt}`, `bearer  ${jwt}\n`]) expect(controlToken({ HSU_CONTROL_TOKEN: v })).toBe(jwt);
  });
  it("is undefined when unset or blank", () => {
    expect(controlToken({})).toBeUndefined();
    expect(controlToken({ HSU_CONTROL_TOKEN: "" })).toBeUndefined();
    expect(controlToken({ HSU_CONTROL_TOKEN: " \n" })).toBeUndefined();
  });
  it("refuses whitespace, a control character or non-ASCII inside, saying where", () => {
    expect(() => controlToken({ HSU_CONTROL_TOKEN: `${jwt}\n${jwt}` })).toThrow(`HSU_CONTROL_TOKEN has whitespace at character ${jwt.length + 1} of ${2 * jwt.length + 1}; set it to the token alone`);
    expect(() => controlToken({ HSU_CONTROL_TOKEN: "ab\x00cd" })).toThrow("a control character at character 3");
    expect(() => controlToken({ HSU_CONTROL_TOKEN: "tökén" })).toThrow('a non-ASCII character ("ö") at character 2');
    expect(() => controlToken({ HSU_CONTROL_TOKEN: "tökén" })).toThrow(expect.objectContaining({ name: "HsuError", code: "invalid_argument" }));
  });
});
