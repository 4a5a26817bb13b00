import { ControlService } from "@hsu/proto";
import { describe, expect, it } from "vitest";
import { authorize, hasRole, isMutating, METHOD_ROLES, requiredRole } from "./policy.ts";
import { ROLES, type Action, type Principal, type Role } from "./principal.ts";

const S = "hsu.master.v1.ControlService";
const token = (roles: Role[], scope: Partial<Pick<Principal, "units" | "methods">> = {}): Principal => ({
  kind: "api-token",
  subject: "ab12cd34",
  roles,
  units: scope.units ?? [],
  methods: scope.methods ?? [],
});
const control = (name: string, units: string[] = []): Action => ({ kind: "control", method: `${S}/${name}`, units, mutating: isMutating(`${S}/${name}`) });
const unitCall = (unit: string, method = "hsu.examples.echo.v1.EchoService/Echo"): Action => ({ kind: "unit", method, units: [unit], mutating: false });

describe("the role of every ControlService method", () => {
  it("classifies each method the proto declares (a new one fails here until it is placed)", () => {
    for (const m of ControlService.methods) expect(METHOD_ROLES, m.name).toHaveProperty(m.name);
  });

  it.each([
    ["ListUnits", "viewer"],
    ["GetUnit", "viewer"],
    ["StreamLogs", "viewer"],
    ["StreamEvents", "viewer"],
    ["StartUnit", "operator"],
    ["StopUnit", "operator"],
    ["RestartUnit", "operator"],
    ["ScalePool", "operator"],
    ["Apply", "admin"],
    ["ShutdownMaster", "admin"],
    ["CreateToken", "admin"],
    ["ListTokens", "admin"],
    ["RevokeToken", "admin"],
    ["SomethingAddedLater", "admin"],
  ] as const)("%s needs %s", (name, role) => expect(requiredRole({ kind: "control", method: `${S}/${name}` })).toBe(role));

  it("a method of another service on the master needs admin; a unit call needs caller", () => {
    expect(requiredRole({ kind: "control", method: "grpc.health.v1.Health/Check" })).toBe("admin");
    expect(requiredRole({ kind: "unit", method: "x.Y/Z" })).toBe("caller");
  });

  it("only reads are not mutating", () => {
    expect(ControlService.methods.filter((m) => !isMutating(`${S}/${m.name}`)).map((m) => m.name).sort()).toEqual(["GetUnit", "ListTokens", "ListUnits", "StreamEvents", "StreamLogs"]);
    expect(isMutating(`${S}/NewThing`)).toBe(true);
  });
});

describe("which role includes which", () => {
  // Rows: the role held; columns: the role needed (caller, viewer, operator, admin).
  const table: Record<Role, boolean[]> = {
    caller: [true, false, false, false],
    viewer: [false, true, false, false],
    operator: [false, true, true, false],
    admin: [true, true, true, true],
  };
  for (const held of ROLES) {
    for (const [i, needed] of ROLES.entries()) {
      it(`${held} ${table[held][i] ? "includes" : "does not include"} ${needed}`, () => expect(hasRole([held], needed)).toBe(table[held][i]));
    }
  }
  it("several roles add up; none gives nothing", () => {
    expect(hasRole(["caller", "viewer"], "caller")).toBe(true);
    expect(hasRole(["caller", "viewer"], "viewer")).toBe(true);
    expect(hasRole([], "caller")).toBe(false);
  });
});

describe("authorize", () => {
  it("every role against every control method: allowed exactly when the role includes the method's", () => {
    for (const held of ROLES) {
      for (const m of ControlService.methods) {
        const d = authorize(token([held]), control(m.name, ["echo"]));
        expect(d.allowed, `${held} ${m.name}`).toBe(hasRole([held], METHOD_ROLES[m.name]!));
      }
    }
  });

  it("says who has what and what the call needs", () => {
    expect(authorize(token(["viewer"]), control("RestartUnit", ["echo"]))).toEqual({
      allowed: false,
      code: "permission_denied",
      reason: "token hsu_ab12cd34 has role viewer; RestartUnit needs operator (create a token with --role operator)",
    });
    expect(authorize({ kind: "anonymous", subject: "anonymous", roles: [], units: [], methods: [] }, unitCall("echo"))).toMatchObject({
      reason: 'an anonymous caller has no role; calling hsu.examples.echo.v1.EchoService/Echo on unit "echo" needs caller (create a token with --role caller)',
    });    // An OIDC subject's roles come from its provider's claims, not from `hsu token create`.
    expect(authorize({ kind: "oidc", subject: "https://idp|ci", roles: ["viewer"], units: [], methods: [] }, control("Apply"))).toMatchObject({
      reason: "OIDC subject https://idp|ci has role viewer; Apply needs admin (the identity provider must give it a roles claim value that master.auth.oidc role_map maps to admin)",
    });
  });

  it("unit scopes: every named unit must match; a call about every unit needs no unit scope", () => {
    const p = token(["operator"], { units: ["echo", "worker-*"] });
    expect(authorize(p, control("RestartUnit", ["echo"])).allowed).toBe(true);
    expect(authorize(p, control("RestartUnit", ["worker-3", "echo"])).allowed).toBe(true);
    expect(authorize(p, control("RestartUnit", ["echo", "db"]))).toMatchObject({ allowed: false, reason: 'token hsu_ab12cd34 is scoped to units echo, worker-*; RestartUnit names "db"' });
    expect(authorize(p, control("RestartUnit", []))).toMatchObject({ allowed: false, reason: expect.stringContaining("is about every unit") });
    expect(authorize(p, control("ListUnits"))).toMatchObject({ allowed: false });
    expect(authorize(token(["operator"]), control("RestartUnit", [])).allowed).toBe(true);
  });

  it("method scopes apply to control and unit calls alike", () => {
    const p = token(["caller", "viewer"], { methods: ["hsu.examples.echo.v1.EchoService/*", `${S}/List*`] });
    expect(authorize(p, unitCall("echo")).allowed).toBe(true);
    expect(authorize(p, unitCall("echo", "hsu.examples.echo.v1.EchoService/EchoStream")).allowed).toBe(true);
    expect(authorize(p, unitCall("echo", "other.v1.Svc/Echo"))).toMatchObject({ allowed: false, reason: expect.stringContaining("other.v1.Svc/Echo is not one of them") });
    expect(authorize(p, control("ListUnits")).allowed).toBe(true);
    expect(authorize(p, control("GetUnit", ["echo"])).allowed).toBe(false);
  });

  it("a caller may call units but not read the master; admin may do both", () => {
    expect(authorize(token(["caller"]), unitCall("echo")).allowed).toBe(true);
    expect(authorize(token(["caller"]), control("ListUnits")).allowed).toBe(false);
    expect(authorize(token(["viewer"]), unitCall("echo")).allowed).toBe(false);
    expect(authorize(token(["operator"]), unitCall("echo")).allowed).toBe(false);
    expect(authorize(token(["admin"]), unitCall("echo")).allowed).toBe(true);
  });

  it("a unit glob does not leak through regex syntax", () => {
    const p = token(["caller"], { units: ["a.b"] });
    expect(authorize(p, unitCall("a.b")).allowed).toBe(true);
    expect(authorize(p, unitCall("aXb")).allowed).toBe(false);
  });
});
