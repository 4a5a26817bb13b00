import type { CallError } from "./protocol.ts";

/** The gRPC status codes by number, as the Connect protocol names them (index = code). */
export const codeNames = [
  "ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists", "permission_denied",
  "resource_exhausted", "failed_precondition", "aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss", "unauthenticated",
] as const;

/** The Connect name of a gRPC code ("unknown" for one out of range). */
export function codeName(code: number): string {
  return codeNames[code] ?? "unknown";
}

// The Connect protocol's mapping (connectrpc.com/docs/protocol#error-codes), also grpc-gateway's but for 499/501 alike.
const HTTP_STATUS = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

/** The HTTP status of a gRPC code, as the Connect protocol and grpc-gateway map it. */
export function httpStatusOf(code: number): number {
  return HTTP_STATUS[code] ?? 500;
}

/** A gRPC error raised inside the gateway (bad request, limits), carried to the protocol's error writer. */
export class GatewayError extends Error implements CallError {
  override readonly name = "GatewayError";
  readonly code: number;
  /** An HTTP status other than the code's own (413 for a body too large). */
  readonly httpStatus: number | undefined;
  constructor(code: number, message: string, httpStatus?: number) {
    super(message);
    this.code = code;
    this.httpStatus = httpStatus;
  }
  /** Any thrown value as a GatewayError (INTERNAL for what is not one). */
  static from(e: unknown): GatewayError {
    if (e instanceof GatewayError) return e;
    return new GatewayError(13, e instanceof Error ? e.message : String(e));
  }
}
