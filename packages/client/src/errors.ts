import { Code, ConnectError } from "@connectrpc/connect";

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

const grpcCodes: Record<HsuErrorCode, Code> = {
  invalid_config: Code.InvalidArgument,
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  illegal_transition: Code.FailedPrecondition,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
  permission_denied: Code.PermissionDenied,
  unauthenticated: Code.Unauthenticated,
  resource_exhausted: Code.ResourceExhausted,
  unsupported: Code.Unimplemented,
  cancelled: Code.Canceled,
  internal: Code.Internal,
};

const fromGrpc = new Map<Code, HsuErrorCode>([
  [Code.InvalidArgument, "invalid_argument"],
  [Code.NotFound, "not_found"],
  [Code.AlreadyExists, "already_exists"],
  [Code.FailedPrecondition, "failed_precondition"],
  [Code.Unavailable, "unavailable"],
  [Code.DeadlineExceeded, "deadline_exceeded"],
  [Code.PermissionDenied, "permission_denied"],
  [Code.Unauthenticated, "unauthenticated"],
  [Code.ResourceExhausted, "resource_exhausted"],
  [Code.Unimplemented, "unsupported"],
  [Code.Canceled, "cancelled"],
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
    if (reason instanceof ConnectError) {
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
    return new ConnectError(this.message, this.grpcCode, undefined, undefined, this);
  }

  private static prefix(where: HsuErrorWhere): string {
    const parts: string[] = [];
    if (where.file) parts.push(where.line ? `${where.file}:${where.line}` : where.file);
    if (where.unit) parts.push(`unit "${where.unit}"`);
    if (where.field) parts.push(where.field);
    return parts.length ? parts.join(": ") + ": " : "";
  }
}
