import type { Interceptor, StreamRequest, UnaryRequest } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type * as http2 from "node:http2";
import type { AuditRecord } from "../auth/audit.ts";
import type { AuditWriter } from "../auth/audit-coalesce.ts";
import type { GatewayGrants } from "./gateway-grants.ts";
import { ANONYMOUS, authenticate, SOCKET_OWNER, type Authentication, type Authenticators } from "../auth/authenticate.ts";
import { authorize, isMutating, splitMethod } from "../auth/policy.ts";
import type { Action, Principal } from "../auth/principal.ts";

/** Options of the master's auth on its control listeners. */
export interface ControlAuthOptions extends Authenticators {
  /** Where mutating and denied calls are recorded (the daemon's coalesces floods of refusals); none: nothing is audited. */
  readonly audit?: AuditWriter;
  /**
   * The (unit, service) pairs some gateway route declares `auth: none`: the
   * only calls an anonymous caller forwarded by the gateway may make.
   */
  readonly publicServices?: (unit: string, service: string) => boolean;
  /** Told about an audit entry that could not be written (the call is answered anyway). */
  readonly log?: (line: string) => void;
  /**
   * The gateways' direct grants: every mutating control call, whatever its
   * outcome, starts a new grant epoch before it is answered (so a revoke, an
   * apply, a stop takes away what any grant allowed before the caller hears
   * back).
   */
  readonly grants?: Pick<GatewayGrants, "epoch" | "invalidate">;
}

/** A unit call the gate let through, with what a direct grant for its caller needs. */
export interface UnitCallAdmission {
  /** The grant epoch the call was authorized in. */
  readonly epoch: number;
  /** Whether the caller is one a gateway forwarded (only those are granted). */
  readonly forwarded: boolean;
  /** When the caller's credential expires (wall-clock ms), if it does. */
  readonly expiresAt?: number;
}

/** Where a call came in: the Unix socket (and then maybe for a gateway's caller) or a TCP peer. */
interface CallSite {
  readonly transport: "unix" | "tcp";
  readonly from: string;
  /** `hsu-caller` and `hsu-caller-address` of a call a gateway forwards. */
  readonly caller?: string;
  readonly via?: string;
  readonly session: http2.Http2Session | undefined;
}

/** The header this gate uses to hand a call's site to its interceptor; a client's own is dropped. */
const SITE_HEADER = "hsu-auth-site";

/** A call that succeeded: gRPC status 0 (connect has no name for it). */
const OK = 0;
const codeName = (c: Code | typeof OK) => c === OK ? "ok" : Code[c].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** The gRPC code of a refused credential: PERMISSION_DENIED, UNAVAILABLE (not checkable now) or UNAUTHENTICATED. */
function refusalCode(a: Exclude<Authentication, { principal: Principal }>): Code {
  return a.denied ? Code.PermissionDenied : a.unavailable ? Code.Unavailable : Code.Unauthenticated;
}

/** The units a ControlService request names (for scopes and the audit log), by method name ("StartUnit"); none means "the whole master". */
export function unitsOf(name: string, message: unknown): string[] {
  const m = (message ?? {}) as { id?: string; ids?: string[]; all?: boolean; pool?: string; units?: string[] };
  switch (name) {
    case "StartUnit":
    case "StopUnit":
    case "RestartUnit":
      return m.all ? [] : [...(m.id ? [m.id] : []), ...(m.ids ?? [])];
    case "GetUnit":
      return m.id ? [m.id] : [];
    case "ScalePool":
      return m.pool ? [m.pool] : [];
    case "StreamLogs":
    case "StreamEvents":
      return [...(m.units ?? [])];
    default:
      return [];
  }
}

/** The listener-side half of the gate: what each HTTP/2 request goes through before it is served. */
export interface AuthGate {
  /** Records where a request came from (for the interceptor); call first, on every request. */
  mark(transport: "unix" | "tcp", stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, trust?: (s: http2.Http2Session) => void): void;
  /** Authenticates and authorizes a unit call (a request for the unit proxy); answers it and returns false when refused. */
  admitUnitCall(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): Promise<UnitCallAdmission | false>;
  /** Authenticates, authorizes and audits every control call, on both paths. */
  readonly interceptor: Interceptor;
}

/**
 * One auth gate for the control listeners: who the caller is (the socket
 * owner; a gateway's caller; a TCP bearer), whether the policy lets it make
 * this call, and an audit entry for every mutating and every refused call.
 */
export function createAuthGate(options: ControlAuthOptions): AuthGate {
  const sites = new Map<string, CallSite & { trust?: (s: http2.Http2Session) => void }>();
  let next = 0;

  const record = async (r: AuditRecord) => {
    if (!options.audit) return;
    await options.audit.append(r).catch((e: unknown) => options.log?.(`audit: cannot append to ${options.audit!.file}: ${(e as Error).message}`));
  };
  // A refusal is `denied` whatever its code (UNAVAILABLE when the credential could not be checked), so floods of them coalesce.
  const audit = (site: CallSite, who: Principal, action: Pick<Action, "method" | "units">, code: Code | typeof OK, reason?: string, refused = false) =>
    record({
      time: Date.now(),
      who: { kind: who.kind, subject: who.subject },
      method: action.method,
      units: action.units,
      from: site.from,
      ...(site.via !== undefined ? { via: site.via } : {}),
      result: refused || code === Code.Unauthenticated || code === Code.PermissionDenied ? "denied" : code === OK ? "ok" : "error",
      code: codeName(code),
      ...(reason !== undefined ? { reason } : {}),
    });

  // Who a call is from. `unitService` is the service of a unit call (for `auth: none` routes).
  const who = async (site: CallSite, header: (name: string) => string | undefined, unit?: { unit: string; service: string }): Promise<Authentication> => {
    if (site.transport === "unix" && site.caller === undefined) return { principal: SOCKET_OWNER };
    const credential = site.transport === "unix" ? header("hsu-caller-authorization") : header("authorization");
    const a = await authenticate(credential, options);
    if (!("principal" in a) || a.principal !== ANONYMOUS) return a;
    if (site.transport === "tcp") return { refused: `the control API over TCP needs \`authorization: Bearer <token>\` (an API token from \`hsu token create\`, ${options.oidc ? "a JWT of master.auth.oidc, " : ""}or the control token)` };
    if (unit && options.publicServices?.(unit.unit, unit.service)) return a;
    return {
      refused: unit
        ? `no credential; ${unit.service} of unit "${unit.unit}" is not on a gateway route with \`auth: none\` (send \`Authorization: Bearer <token>\`)`
        : "no credential; the master's control API needs `Authorization: Bearer <token>`",
    };
  };

  const take = (id: string | undefined): CallSite & { trust?: (s: http2.Http2Session) => void } => {
    const site = id === undefined ? undefined : sites.get(id);
    if (!site) throw new ConnectError("the call's origin is unknown to the auth gate", Code.Internal);
    sites.delete(id!);
    return site;
  };

  const gate = async (req: UnaryRequest | StreamRequest, units: string[]): Promise<{ site: CallSite; principal: Principal; action: Action }> => {
    const raw = (req as { ctx?: { rawHeader?(n: string): string | undefined } }).ctx;
    const header = (n: string) => (raw?.rawHeader ? raw.rawHeader(n) : (req.header.get(n) ?? undefined));
    const site = take(header(SITE_HEADER));
    const method = `${req.service.typeName}/${req.method.name}`;
    const action: Action = { kind: "control", method, units, mutating: isMutating(method) };
    const a = await who(site, header);
    if (!("principal" in a)) {
      const code = refusalCode(a);
      await audit(site, ANONYMOUS, action, code, a.refused, true);
      throw new ConnectError(a.refused, code);
    }
    if (site.transport === "tcp" && site.session) (site as { trust?: (s: http2.Http2Session) => void }).trust?.(site.session);
    const d = authorize(a.principal, action);
    if (!d.allowed) {
      await audit(site, a.principal, action, Code.PermissionDenied, d.reason);
      throw new ConnectError(d.reason, Code.PermissionDenied);
    }
    return { site, principal: a.principal, action };
  };

  const interceptor: Interceptor = (next) => async (req) => {
    if (!req.stream) {
      const { site, principal, action } = await gate(req, unitsOf(req.method.name, req.message));
      if (!action.mutating) return next(req);
      try {
        const res = await next(req);
        await Promise.all([audit(site, principal, action, OK), options.grants?.invalidate(action.method)]);
        return res;
      } catch (e) {
        const err = ConnectError.from(e);
        await Promise.all([audit(site, principal, action, err.code, err.rawMessage), options.grants?.invalidate(action.method)]);
        throw e;
      }
    }
    // A server stream's one request message names its units: read it first, then hand it on.
    const it = req.message[Symbol.asyncIterator]();
    const first = await it.next();
    await gate(req, first.done ? [] : unitsOf(req.method.name, first.value));
    const rest = {
      [Symbol.asyncIterator]: () => ({
        started: false,
        next(this: { started: boolean }) {
          if (!this.started && !first.done) {
            this.started = true;
            return Promise.resolve(first);
          }
          return it.next();
        },
      }),
    };
    return next({ ...req, message: rest as AsyncIterable<never> } as StreamRequest);
  };

  return {
    interceptor,
    mark(transport, stream, headers, trust) {
      const id = String(++next);
      const socket = stream.session?.socket;
      const caller = one(headers["hsu-caller"]);
      const site = {
        transport,
        from: transport === "unix" ? "unix" : `${socket?.remoteAddress ?? "?"}:${socket?.remotePort ?? "?"}`,
        ...(caller !== undefined ? { caller, via: `${caller} ${one(headers["hsu-caller-address"]) ?? "?"}` } : {}),
        session: stream.session,
        ...(trust ? { trust } : {}),
      };
      // Only ours: a client's own `hsu-auth-site` is replaced.
      headers[SITE_HEADER] = id;
      sites.set(id, site);
      stream.once("close", () => sites.delete(id));
    },
    async admitUnitCall(req, res) {
      const site = take(one(req.headers[SITE_HEADER]));
      // The epoch before anything is checked: a change made while this call is authorized voids its grant.
      const epoch = options.grants?.epoch ?? 0;
      const unit = one(req.headers["hsu-unit"]);
      // A path for no route and no unit: the proxy answers it (UNIMPLEMENTED) once the caller is known.
      const method = (req.headers[":path"] ?? "").replace(/^\//, "").split("?", 1)[0]!;
      const action: Action = { kind: "unit", method, units: unit ? [unit] : [], mutating: false };
      const a = await who(site, (n) => one(req.headers[n]), unit ? { unit, service: splitMethod(method)[0] } : undefined);
      const refuse = async (principal: Principal, code: Code, reason: string): Promise<false> => {
        await audit(site, principal, action, code, reason, true);
        if (res.writableEnded || res.stream.destroyed) return false;
        res.writeHead(200, { "content-type": "application/grpc" });
        res.addTrailers({ "grpc-status": String(code), "grpc-message": encodeURIComponent(reason) });
        res.end();
        req.resume();
        return false;
      };
      if (!("principal" in a)) return refuse(ANONYMOUS, refusalCode(a), a.refused);
      if (site.transport === "tcp" && site.session) site.trust?.(site.session);
      const admitted: UnitCallAdmission = {
        epoch,
        forwarded: site.transport === "unix" && site.caller !== undefined,
        ...(a.principal.expiresAt !== undefined ? { expiresAt: a.principal.expiresAt } : {}),
      };
      if (!unit) return admitted;
      if (a.principal === ANONYMOUS) return admitted;
      const d = authorize(a.principal, action);
      if (!d.allowed) return refuse(a.principal, Code.PermissionDenied, d.reason);
      return admitted;
    },
  };
}
