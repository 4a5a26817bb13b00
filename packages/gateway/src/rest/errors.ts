import { fromBinary, toJson, type Registry } from "@bufbuild/protobuf";
import { base64Encode, BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { CallError } from "../protocol.ts";

/** gRPC status codes by name (google.rpc.Code). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

// The grpc-gateway table (runtime/errors.go HTTPStatusFromCode); 499 is nginx's "client closed request".
const STATUS_OF_CODE: readonly number[] = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

/** The HTTP status for a gRPC status code, as grpc-gateway maps it; 500 for a code outside 0-16. */
export function httpStatusFromCode(code: number): number {
  return STATUS_OF_CODE[code] ?? 500;
}

/** google.rpc.Status in its proto3 JSON form: the body of every REST error. */
export interface StatusJson {
  code: number;
  message: string;
  details: unknown[];
}

/**
 * An error the REST protocol answers itself (bad path, bad query, bad body,
 * missing credentials) or got from the unit: an HTTP status plus the gRPC
 * code it stands for, and a message saying what was wrong and where.
 */
export class RestError extends Error {
  override readonly name = "RestError";
  /** The gRPC code (0-16). */
  readonly code: number;
  /** The HTTP status; by default the grpc-gateway mapping of `code`. */
  readonly status: number;
  /** Extra response headers (Allow, WWW-Authenticate). */
  readonly headers: Readonly<Record<string, string>>;
  /** google.rpc.Status details, already in JSON form. */
  readonly details: readonly unknown[];

  constructor(code: number, message: string, status = httpStatusFromCode(code), headers: Readonly<Record<string, string>> = {}, details: readonly unknown[] = []) {
    super(message);
    this.code = code;
    this.status = status;
    this.headers = headers;
    this.details = details;
  }

  /** A gateway-made error whose HTTP status is not the code's default (405, 413, 414, 415). */
  static http(status: number, code: number, message: string, headers: Record<string, string> = {}): RestError {
    return new RestError(code, message, status, headers);
  }

  /** The error of a failed upstream call, with the details of its grpc-status-details-bin in JSON form. */
  static fromCall(error: CallError, registry?: Registry): RestError {
    const details = error.details === undefined ? [] : statusDetails(error.details, registry);
    return new RestError(error.code, error.message, httpStatusFromCode(error.code), {}, details);
  }

  /** Any thrown value as a RestError: itself, or INTERNAL (500) with its message. */
  static from(e: unknown): RestError {
    if (isRestError(e)) return e;
    return new RestError(GrpcCode.INTERNAL, e instanceof Error ? e.message : String(e));
  }

  /** The response body. */
  toStatusJson(): StatusJson {
    return { code: this.code, message: this.message, details: [...this.details] };
  }
}

/** True for a RestError (by name, so it holds across copies of the module). */
export function isRestError(e: unknown): e is RestError {
  return e instanceof Error && e.name === "RestError" && typeof (e as RestError).status === "number";
}

/**
 * The `details` of a binary google.rpc.Status (field 3, repeated google.protobuf.Any)
 * as proto3 JSON: a type the registry knows is written out, any other as
 * `{"@type", "value": base64}`. Undecodable bytes give no details rather than a failed answer.
 */
export function statusDetails(bytes: Uint8Array, registry?: Registry): unknown[] {
  const out: unknown[] = [];
  try {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      if (no !== 3 || wt !== WireType.LengthDelimited) {
        r.skip(wt, no);
        continue;
      }
      const any = fromBinary(AnySchema, r.bytes());
      try {
        out.push(toJson(AnySchema, any, registry === undefined ? {} : { registry }));
      } catch {
        out.push({ "@type": any.typeUrl, value: base64Encode(any.value) });
      }
    }
  } catch {
    return out;
  }
  return out;
}
