// The gRPC-over-HTTP/2 wire pieces both unary fast paths use: the unit
// server's (packages/server/src/fast-unary.ts) and the unit transport's
// (fast-transport.ts). One copy, so the two sides cannot drift apart; the
// connectrpc conformance suite (packages/rpc-conformance) checks both
// against the reference peers.
//
// Exported as "@hsu/transport/grpc-wire" for @hsu/server; not a public API.
import { Code, ConnectError } from "@connectrpc/connect";
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";

/** The content type both fast paths send (binary protobuf). */
export const grpcContentType = "application/grpc";

/** One uncompressed gRPC message frame: flag byte 0, 4-byte big-endian length, the bytes. */
export function envelope(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/** Headers (or trailers) as node:http2 received them, without the pseudo-headers. */
export function fromIncoming(raw: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const key in raw) {
    if (key.charCodeAt(0) === 58 /* ":" */) continue;
    const value = raw[key];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(key, v);
    else out.set(key, String(value));
  }
  return out;
}

/** Copies `source` into headers node:http2 will send, leaving out the names in `skip`. */
export function intoOutgoing(target: OutgoingHttpHeaders, source: Headers, skip: ReadonlySet<string>): void {
  source.forEach((value, key) => {
    if (!skip.has(key)) target[key] = value;
  });
}

/**
 * Collects the body of a unary call, which must be exactly one uncompressed
 * message of at most `readMaxBytes`. `push` fails as soon as the first five
 * bytes show a compressed or oversized message; `end` returns the message
 * bytes, `undefined` for an empty body (the caller knows which code that
 * is), or the error.
 *
 * Codes, as gRPC implementations give them and the conformance suite
 * expects: a body cut short (inside the prefix or the message) is INTERNAL,
 * a second message UNIMPLEMENTED, a compressed one INTERNAL, an oversized
 * one RESOURCE_EXHAUSTED.
 */
export class UnaryBody {
  private first: Buffer | undefined;
  private chunks: Buffer[] | undefined;
  private length = -1;
  received = 0;
  private readonly readMaxBytes: number;
  private readonly what: "input" | "output";

  /** `what` is "input" on the server, "output" on the client: only used in messages. */
  constructor(readMaxBytes: number, what: "input" | "output") {
    this.readMaxBytes = readMaxBytes;
    this.what = what;
  }

  push(chunk: Buffer): ConnectError | undefined {
    this.received += chunk.length;
    if (this.first === undefined) this.first = chunk;
    else (this.chunks ??= [this.first]).push(chunk);
    if (this.length < 0) {
      if (this.received < 5) return undefined;
      const head = this.chunks === undefined ? this.first : Buffer.concat(this.chunks, 5);
      if ((head[0]! & 1) === 1) {
        return new ConnectError("protocol error: received a compressed message, but no grpc-encoding was agreed", Code.Internal);
      }
      this.length = head.readUInt32BE(1);
      if (this.length > this.readMaxBytes) {
        return new ConnectError(`message size ${this.length} is larger than configured readMaxBytes ${this.readMaxBytes}`, Code.ResourceExhausted);
      }
    }
    // Anything past the first message is a second one: refused at once, so
    // a peer cannot make the body grow past the limit.
    if (this.received > 5 + this.length) return this.extra();
    return undefined;
  }

  private extra(): ConnectError {
    return new ConnectError(`protocol error: received extra ${this.what} message for unary method`, Code.Unimplemented);
  }

  end(): Uint8Array | undefined | ConnectError {
    if (this.received === 0) return undefined;
    if (this.length < 0 || this.received < 5 + this.length) {
      return new ConnectError(
        `protocol error: the body ended inside a message (${this.received} bytes, ${this.length < 0 ? "prefix incomplete" : `message of ${this.length}`})`,
        Code.Internal,
      );
    }
    if (this.received > 5 + this.length) return this.extra();
    const all = this.chunks === undefined ? this.first! : Buffer.concat(this.chunks, this.received);
    return all.subarray(5);
  }
}
