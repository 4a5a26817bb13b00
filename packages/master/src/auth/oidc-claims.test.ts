import { describe, expect, it } from "vitest";
import { OIDC_ALGORITHMS, principalFromClaims, type OidcProviderConfig } from "./oidc-claims.ts";

const provider: OidcProviderConfig = {
  issuer: "https://idp.example",
  audience: ["hsu"],
  rolesClaim: "roles",
  roleMap: { "hsu-admins": "admin", ops: "operator", viewer: "caller" },
  unitsClaim: undefined,
  jwksUri: undefined,
  clockToleranceMs: 0,
  algorithms: OIDC_ALGORITHMS,
};

describe("principalFromClaims", () => {
  it("maps a list, a string and a space-separated string of values; the role map wins over a role name", () => {
    expect(principalFromClaims({ sub: "u1", exp: 100, roles: ["ops", "viewer"] }, provider)).toEqual({
      kind: "oidc",
      subject: "https://idp.example|u1",
      roles: ["caller", "operator"],
      units: [],
      methods: [],
      expiresAt: 100_000,
    });
    expect(principalFromClaims({ sub: "u1", roles: "hsu-admins" }, provider).roles).toEqual(["admin"]);
    expect(principalFromClaims({ sub: "u1", roles: "admin operator" }, provider).roles).toEqual(["operator", "admin"]);
  });

  it("reaches nested claims by a dotted name", () => {
    const p = { ...provider, rolesClaim: "realm_access.roles" };
    expect(principalFromClaims({ sub: "u", realm_access: { roles: ["ops"] } }, p).roles).toEqual(["operator"]);
  });

  it("refuses a token without sub, with a roles claim of the wrong type, or mapping to no role", () => {
    expect(() => principalFromClaims({ roles: ["ops"] }, provider)).toThrow(/no "sub" claim/);
    expect(() => principalFromClaims({ sub: "u", roles: { admin: true } }, provider)).toThrow(/"roles" claim is neither a string nor a list of strings/);
    expect(() => principalFromClaims({ sub: "u", roles: ["ops", 3] }, provider)).toThrow(/neither a string nor a list/);
    expect(() => principalFromClaims({ sub: "u", roles: ["__proto__", "constructor", "toString"] }, provider)).toThrow(/no role mapped for https:\/\/idp.example\|u/);
    expect(() => principalFromClaims({ sub: "u" }, provider)).toThrow(/no "roles" claim.*mapped: hsu-admins, ops, viewer/);
  });

  it("scopes units from units_claim, fails closed without it, and reads * as every unit", () => {
    const p = { ...provider, unitsClaim: "hsu_units" };
    expect(principalFromClaims({ sub: "u", roles: "ops", hsu_units: ["echo", "w-*"] }, p).units).toEqual(["echo", "w-*"]);
    expect(principalFromClaims({ sub: "u", roles: "ops", hsu_units: "echo" }, p).units).toEqual(["echo"]);
    expect(principalFromClaims({ sub: "u", roles: "ops", hsu_units: ["*"] }, p).units).toEqual([]);
    expect(() => principalFromClaims({ sub: "u", roles: "ops" }, p)).toThrow(expect.objectContaining({ code: "permission_denied", message: expect.stringContaining("missing") }));
    expect(() => principalFromClaims({ sub: "u", roles: "ops", hsu_units: [] }, p)).toThrow(/"hsu_units" claim is empty/);
  });
});
