// The one error type, without connect: a module that only throws or tells
// HsuErrors apart (finding the master, reading a spec) loads no RPC code.
// "@hsu/client/errors" is this plus connect's ConnectError, which
// `toConnectError` builds; everything on the gRPC side imports that one.
import type { Code, ConnectError } from "@connectrpc/connect";

let connectError: typeof ConnectError | undefined;

/** Called once by errors.ts, which imports connect: the class `toConnectError` builds. */
export function useConnectError(c: typeof ConnectError): void {
  connectError = c;
}

/** A ConnectError from any copy of connect, by the test connect's own `instanceof` makes. */
function isConnectError(v: unknown): v is ConnectError {
  if (!(v instanceof Error) || v.name !== "ConnectError") return false;
  const e = v as Partial<ConnectError>;
  return typeof e.code === "number" && typeof e.rawMessage === "string" && Array.isArray(e.details) && "metadata" in e;
}

/** The fixed set of HSU error codes; each maps onto one gRPC status code. */
export type HsuErrorCode =
  | "invalid_config"
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "illegal_transition"
  | "unavailable"
  | "deadline_exceeded"
  | "permission_denied"
  | "unauthenticated"
  | "resource_exhausted"
  | "unsupported"
  | "cancelled"
  | "internal";

// gRPC status codes by value (connect's `Code`; errors.test.ts checks each), so that this module
// loads without connect: `hsu ps` finds its master and explains a missing one without it.
const grpcCodes: Record<HsuErrorCode, Code> = {
  invalid_config: 3 /* InvalidArgument */,
  invalid_argument: 3 /* InvalidArgument */,
  not_found: 5 /* NotFound */,
  already_exists: 6 /* AlreadyExists */,
  failed_precondition: 9 /* FailedPrecondition */,
  illegal_transition: 9 /* FailedPrecondition */,
  unavailable: 14 /* Unavailable */,
  deadline_exceeded: 4 /* DeadlineExceeded */,
  permission_denied: 7 /* PermissionDenied */,
  unauthenticated: 16 /* Unauthenticated */,
  resource_exhausted: 8 /* ResourceExhausted */,
  unsupported: 12 /* Unimplemented */,
  cancelled: 1 /* Canceled */,
  internal: 13 /* Internal */,
};

const fromGrpc = new Map<number, HsuErrorCode>([
  [3 /* InvalidArgument */, "invalid_argument"],
  [5 /* NotFound */, "not_found"],
  [6 /* AlreadyExists */, "already_exists"],
  [9 /* FailedPrecondition */, "failed_precondition"],
  [14 /* Unavailable */, "unavailable"],
  [4 /* DeadlineExceeded */, "deadline_exceeded"],
  [7 /* PermissionDenied */, "permission_denied"],
  [16 /* Unauthenticated */, "unauthenticated"],
  [8 /* ResourceExhausted */, "resource_exhausted"],
  [12 /* Unimplemented */, "unsupported"],
  [1 /* Canceled */, "cancelled"],
]);

/** Where an error happened: the unit, the config field or file position. */
export interface HsuErrorWhere {
  /** The unit id the error is about. */
  unit?: string;
  /** A dotted config path, e.g. `units.api.health_check.interval`. */
  field?: string;
  /** A file the error was found in. */
  file?: string;
  /** 1-based line in `file`. */
  line?: number;
}

/**
 * The one error type of the HSU master family (@hsu/client, @hsu/master).
 * Every failure carries a fixed code (mapped onto gRPC codes for the wire),
 * where it happened, and the error that caused it; messages say what to do.
 */
export class HsuError extends Error {
  override readonly name = "HsuError";
  readonly code: HsuErrorCode;
  readonly where: HsuErrorWhere;

  constructor(code: HsuErrorCode, message: string, where: HsuErrorWhere = {}, options?: { cause?: unknown }) {
    super(HsuError.prefix(where) + message, options);
    this.code = code;
    this.where = where;
  }

  /** The gRPC status code this error maps onto. */
  get grpcCode(): Code {
    return grpcCodes[this.code];
  }

  /** Converts anything thrown into an HsuError, keeping the original as `cause`. */
  static from(reason: unknown, fallback: HsuErrorCode = "internal"): HsuError {
    if (HsuError.is(reason)) return reason;
    if (isConnectError(reason)) {
      return new HsuError(fromGrpc.get(reason.code) ?? fallback, reason.message, {}, { cause: reason });
    }
    if (reason instanceof Error) {
      if (reason.name === "AbortError") return new HsuError("cancelled", reason.message, {}, { cause: reason });
      return new HsuError(fallback, reason.message, {}, { cause: reason });
    }
    return new HsuError(fallback, String(reason), {}, { cause: reason });
  }

  /** Type guard that works across package copies: it checks the name and code. */
  static is(value: unknown, code?: HsuErrorCode): value is HsuError {
    if (!(value instanceof Error) || value.name !== "HsuError") return false;
    const c = (value as { code?: unknown }).code;
    return typeof c === "string" && c in grpcCodes && (code === undefined || c === code);
  }

  /** This error as a ConnectError, for answering a gRPC call. */
  toConnectError(): ConnectError {
    if (connectError === undefined) throw new Error("HsuError.toConnectError needs @hsu/client/errors loaded (it brings connect's ConnectError)");
    return new connectError(this.message, this.grpcCode, undefined, undefined, this);
  }

  private static prefix(where: HsuErrorWhere): string {
    const parts: string[] = [];
    if (where.file) parts.push(where.line ? `${where.file}:${where.line}` : where.file);
    if (where.unit) parts.push(`unit "${where.unit}"`);
    if (where.field) parts.push(where.field);
    return parts.length ? parts.join(": ") + ": " : "";
  }
}
