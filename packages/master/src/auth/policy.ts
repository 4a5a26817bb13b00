import { anyGlob } from "./glob.ts";
import type { Action, Principal, Role } from "./principal.ts";

/** The control service every role below is about. */
export const CONTROL_SERVICE = "hsu.master.v1.ControlService";

/**
 * The role each ControlService method needs. A method not in this table (one
 * added later and not classified yet) needs admin: new power is never given
 * away by default.
 */
export const METHOD_ROLES: Readonly<Record<string, Role>> = {
  ListUnits: "viewer",
  GetUnit: "viewer",
  StreamLogs: "viewer",
  StreamEvents: "viewer",
  StartUnit: "operator",
  StopUnit: "operator",
  RestartUnit: "operator",
  ScalePool: "operator",
  Apply: "admin",
  ShutdownMaster: "admin",
  CreateToken: "admin",
  ListTokens: "admin",
  RevokeToken: "admin",
  AttachGateway: "admin",
};

/** ControlService methods that change nothing (the others are audited when they succeed too). */
const READ_ONLY = new Set(["ListUnits", "GetUnit", "StreamLogs", "StreamEvents", "ListTokens"]);

/** The role a call needs: `caller` for a unit call, the table's role for a control method, admin for anything else. */
export function requiredRole(action: Pick<Action, "kind" | "method">): Role {
  if (action.kind === "unit") return "caller";
  const [service, name] = splitMethod(action.method);
  return (service === CONTROL_SERVICE && METHOD_ROLES[name]) || "admin";
}

/** True for a control method that changes something (unknown methods count as mutating). */
export function isMutating(method: string): boolean {
  const [service, name] = splitMethod(method);
  return !(service === CONTROL_SERVICE && READ_ONLY.has(name));
}

/** "pkg.Service/Method" as its two halves ("" for a missing half). */
export function splitMethod(method: string): [string, string] {
  const m = method.startsWith("/") ? method.slice(1) : method;
  const slash = m.indexOf("/");
  return slash < 0 ? [m, ""] : [m.slice(0, slash), m.slice(slash + 1)];
}

/** What each role includes: viewer < operator < admin each include the ones before (not caller); admin also includes caller. */
const INCLUDES: Readonly<Record<Role, readonly Role[]>> = {
  caller: ["caller"],
  viewer: ["viewer"],
  operator: ["viewer", "operator"],
  admin: ["caller", "viewer", "operator", "admin"],
};

/** True when one of `roles` includes `needed`. */
export function hasRole(roles: readonly Role[], needed: Role): boolean {
  return roles.some((r) => INCLUDES[r]?.includes(needed));
}

/** The policy's answer: allowed, or the gRPC code and a sentence saying why and what would be allowed. */
export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly code: "permission_denied"; readonly reason: string };

/** How a principal is named in a refusal: "token hsu_ab12cd34", "oidc user ...", "the anonymous caller". */
export function describePrincipal(p: Pick<Principal, "kind" | "subject">): string {
  switch (p.kind) {
    case "api-token":
      return `token hsu_${p.subject}`;
    case "control-token":
      return "the control token";
    case "socket-owner":
      return "the socket owner";
    case "oidc":
      return `OIDC subject ${p.subject}`;
    case "anonymous":
      return "an anonymous caller";
  }
}

const list = (xs: readonly string[]) => xs.join(", ");

// An OIDC subject's roles come from its identity provider's claims: no `hsu token create` changes them.
const grantHint = (p: Pick<Principal, "kind">, needed: Role) =>
  p.kind === "oidc"
    ? `the identity provider must give it a roles claim value that master.auth.oidc role_map maps to ${needed}`
    : `create a token with --role ${needed}`;
const shortName = (method: string) => splitMethod(method)[1] || method;

/**
 * Decides one call: the principal needs a role that includes the action's,
 * its method scope must match the method, and its unit scope must match
 * every unit the action names; an action about the whole master (no units
 * named) needs a principal with no unit scope. Pure: no clock, no I/O (expiry
 * is the authenticator's business).
 */
export function authorize(principal: Principal, action: Action): Decision {
  const who = describePrincipal(principal);
  const needed = requiredRole(action);
  const what = action.kind === "unit" ? `calling ${action.method} on unit "${action.units[0] ?? ""}"` : shortName(action.method);
  if (!hasRole(principal.roles, needed)) {
    const has = principal.roles.length ? `role${principal.roles.length > 1 ? "s" : ""} ${list(principal.roles)}` : "no role";
    return deny(`${who} has ${has}; ${what} needs ${needed} (${grantHint(principal, needed)})`);
  }
  const method = action.method.replace(/^\//, "");
  if (!anyGlob(principal.methods, method)) {
    return deny(`${who} is scoped to methods ${list(principal.methods)}; ${method} is not one of them`);
  }
  if (principal.units.length) {
    if (action.units.length === 0) {
      return deny(`${who} is scoped to units ${list(principal.units)}; ${what} is about every unit (name the units instead)`);
    }
    const outside = action.units.filter((u) => !anyGlob(principal.units, u));
    if (outside.length) {
      return deny(`${who} is scoped to units ${list(principal.units)}; ${what} names ${outside.map((u) => `"${u}"`).join(", ")}`);
    }
  }
  return { allowed: true };
}

const deny = (reason: string): Decision => ({ allowed: false, code: "permission_denied", reason });
