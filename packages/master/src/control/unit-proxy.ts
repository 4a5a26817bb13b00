import { parseAddress } from "@hsu/transport";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { UnitCallAdmission } from "./auth-gate.ts";
import { forwardableHeaders as forwardable } from "./unit-headers.ts";

/** A running unit to forward one call to; `release` marks the call ended. */
export interface ProxyTarget {
  readonly address: string;
  release(): void;
}

/** Finds (and wakes, for an on-demand unit) the unit a call is for. */
export type ResolveTarget = (unit: string, signal: AbortSignal) => Promise<ProxyTarget>;

/**
 * The response headers that let the gateway which forwarded this call reach
 * `unit` directly for the same caller and method (a direct grant, see
 * gateway-grants.ts), or undefined.
 */
export type OfferGrant = (unit: string, req: http2.Http2ServerRequest, admitted: UnitCallAdmission) => Record<string, string> | undefined;

/** How often a call whose unit vanished before the call reached it is resolved again. */
const RESOLVE_ATTEMPTS = 5;

const { HTTP2_HEADER_PATH, HTTP2_HEADER_METHOD, HTTP2_HEADER_STATUS, NGHTTP2_CANCEL } = http2.constants;

function grpcError(res: http2.Http2ServerResponse, code: number, message: string): void {
  if (res.writableEnded || res.stream.destroyed) return;
  if (res.headersSent) {
    res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  res.writeHead(200, { "content-type": "application/grpc" });
  res.addTrailers({ "grpc-status": String(code), "grpc-message": encodeURIComponent(message) });
  res.end();
}

/** Runs a proxy step; a failure answers the call instead of taking the master down. */
function guard(res: http2.Http2ServerResponse, unit: string, step: () => void): void {
  try {
    step();
  } catch (e) {
    grpcError(res, 13, `unit "${unit}": proxy error: ${(e as Error).message}`);
  }
}

/**
 * Calls to units through the master: a gRPC call to the master's socket that
 * carries `hsu-unit: <id>` metadata is forwarded, byte for byte (frames,
 * headers, trailers, streams both ways, back-pressure), to that unit - which
 * is woken first when it is started on demand, and counted as in flight until
 * the call ends, so idle shutdown never cuts a call short. Headers pass
 * through one rule ({@link forwardable}): credentials, `hsu-*` metadata and
 * connection headers never reach the unit.
 */
export function createUnitProxy(
  resolve: ResolveTarget,
  offer?: OfferGrant,
): (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, admitted?: UnitCallAdmission) => void {
  const sessions = new Map<string, http2.ClientHttp2Session>();
  const session = (address: string): http2.ClientHttp2Session => {
    const existing = sessions.get(address);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const parsed = parseAddress(address);
    const s =
      parsed.kind === "unix"
        ? http2.connect("http://localhost", { createConnection: () => net.connect(parsed.path) })
        : http2.connect(`http://${parsed.host.includes(":") ? `[${parsed.host}]` : parsed.host}:${parsed.port}`);
    s.on("error", () => sessions.delete(address));
    s.on("close", () => sessions.delete(address));
    s.unref();
    sessions.set(address, s);
    return s;
  };

  // Resolves once the session to `address` is connected (false), or true when nothing listens there any more.
  const connected = (address: string): Promise<boolean> => {
    const s = session(address);
    if (!s.connecting) return Promise.resolve(false);
    return new Promise((r) => {
      const done = (gone: boolean) => {
        s.off("connect", ok);
        s.off("error", failed);
        r(gone);
      };
      const ok = () => done(false);
      const failed = (e: NodeJS.ErrnoException) => done(e.code === "ENOENT" || e.code === "ECONNREFUSED");
      s.once("connect", ok);
      s.once("error", failed);
    });
  };

  return (req, res, admitted) => {
    const unit = req.headers["hsu-unit"];
    if (typeof unit !== "string" || !unit) {
      grpcError(res, 12, `no such method ${req.url} on the master; to call a unit through the master, send the metadata "hsu-unit: <unit id>"`);
      return;
    }
    const controller = new AbortController();
    res.once("close", () => controller.abort());
    // A unit restarted (upgraded) between the lease and the connect is gone from its address before the call
    // reached it: nothing was sent, so the call is resolved again - to the new process - a few times at most.
    const target = async (): Promise<ProxyTarget> => {
      for (let attempt = 1; ; attempt++) {
        const t = await resolve(unit, controller.signal);
        const gone = await connected(t.address);
        if (!gone || attempt >= RESOLVE_ATTEMPTS || controller.signal.aborted) return t;
        t.release();
      }
    };
    target().then(
      (target) => {
        if (res.writableEnded || res.stream.closed) {
          target.release();
          return;
        }
        let up: http2.ClientHttp2Stream;
        try {
          up = session(target.address).request({ [HTTP2_HEADER_METHOD]: "POST", [HTTP2_HEADER_PATH]: req.url, ...forwardable(req.headers) });
        } catch (e) {
          target.release();
          grpcError(res, 14, `unit "${unit}": ${(e as Error).message}`);
          return;
        }
        // Whether the unit sent a gRPC status; a stream that ends without one (the unit died) is answered UNAVAILABLE.
        let answered = false;
        up.on("response", (headers) => guard(res, unit, () => {
          if (headers["grpc-status"] !== undefined) answered = true;
          const status = Number(headers[HTTP2_HEADER_STATUS] ?? 200);
          const out = forwardable(headers);
          if (headers["grpc-status"] !== undefined) {
            // A trailers-only answer: its status moves to the trailers the compat layer always sends.
            const { "grpc-status": st, "grpc-message": msg, "grpc-status-details-bin": det, ...rest } = out;
            res.writeHead(status, rest);
            res.addTrailers({ "grpc-status": st!, ...(msg !== undefined ? { "grpc-message": msg } : {}), ...(det !== undefined ? { "grpc-status-details-bin": det } : {}) });
          } else {
            // Only a call that is being answered is granted (a refusal or an error never is).
            const grant = offer && admitted?.forwarded && status === 200 ? offer(unit, req, admitted) : undefined;
            res.writeHead(status, grant ? { ...out, ...grant } : out);
          }
        }));
        // Trailers come before the end of the body, so they are in place when the pipe ends the response.
        up.on("trailers", (t) => guard(res, unit, () => ((answered = true), res.addTrailers(forwardable(t)))));
        up.pipe(res, { end: false });
        up.once("end", () => (answered ? res.end() : grpcError(res, 14, `unit "${unit}" ended the call without a status (did it exit?)`)));
        req.pipe(up);
        up.on("error", (e) => grpcError(res, 14, `unit "${unit}": ${e.message}`));
        up.once("close", () => {
          target.release();
          if (!res.writableEnded) grpcError(res, 14, `unit "${unit}" closed the call before answering (did it exit?)`);
        });
        res.once("close", () => {
          if (!up.closed) up.close(NGHTTP2_CANCEL);
        });
      },
      (e: Error & { code?: number; rawMessage?: string }) => {
        const text = e.rawMessage ?? e.message;
        grpcError(res, typeof e.code === "number" ? e.code : 14, text.includes(`unit "${unit}"`) ? text : `unit "${unit}": ${text}`);
      },
    );
  };
}
