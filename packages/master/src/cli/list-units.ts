// `hsu ps`'s one call, ListUnits, without connect and without the protobuf
// reflection runtime: a plain gRPC unary call (HTTP/2, application/grpc, one
// uncompressed message, grpc-status in the trailers) on node:http2, and the
// reply read field by field with @bufbuild/protobuf's own wire reader.
// Loading connect, connect-node and the generated descriptors (@hsu/proto
// boots every file and the whole well-known-types index) is most of what a
// `hsu ps` cost; this path loads node:http2 and the wire reader only
// (bench/notes/ps-latency.md).
//
// Anything this path does not expect (a transport error, a non-zero status,
// a reply it cannot read) is not explained here: ListUnits is a read, so the
// caller makes it again through the full control client, whose errors are
// the ones every other command gives.
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { ListUnitsResponse, UnitStatus } from "@hsu/proto";
import { connect as h2connect, type ClientHttp2Session } from "node:http2";
import * as net from "node:net";
import { controlTlsFiles, controlToken } from "./tcp-credentials.ts";

/** Why the quick path gave up; the caller falls back to the full client. */
export class QuickCallFailed extends Error {
  override readonly name = "QuickCallFailed";
}

const path = "/hsu.master.v1.ControlService/ListUnits";
/** gRPC's default limit for a received message. */
const readMaxBytes = 4 * 1024 * 1024;

/**
 * ListUnits on the master at `socket` (a Unix socket path, or host:port).
 * Rejects with {@link QuickCallFailed} on anything but a well-formed OK
 * reply, and when no reply has begun within `answerTimeoutMs` (a peer that
 * accepts and says nothing; the full client then gets its turn).
 */
export function quickListUnits(socket: string, tcp: boolean, answerTimeoutMs = 5000): Promise<UnitStatus[]> {
  return new Promise((resolve, reject) => {
    // Over TLS (a CA or client certificate given) the full client speaks, and explains a handshake it cannot make.
    const f = controlTlsFiles();
    if (tcp && (f.ca || f.cert || f.key)) return reject(new QuickCallFailed("TLS"));
    if (!tcp && f.flagged) return reject(new QuickCallFailed("TLS flags on a Unix socket"));
    let session: ClientHttp2Session | undefined;
    const fail = (why: string) => {
      clearTimeout(timer);
      session?.destroy();
      reject(new QuickCallFailed(why));
    };
    const timer = setTimeout(() => fail(`no reply within ${answerTimeoutMs} ms`), answerTimeoutMs);
    const authority = tcp ? `http://${socket}` : "http://localhost";
    const createConnection = tcp
      ? () => net.connect({ host: socket.slice(0, socket.lastIndexOf(":")).replace(/^\[|\]$/g, ""), port: Number(socket.slice(socket.lastIndexOf(":") + 1)), noDelay: true })
      : () => net.connect(socket);
    try {
      session = h2connect(authority, { createConnection });
    } catch (e) {
      return fail((e as Error).message);
    }
    session.on("error", (e) => fail(e.message));
    let token: string | undefined;
    try {
      token = tcp ? controlToken() : undefined;
    } catch (e) {
      // The full client reads it again and explains.
      return fail((e as Error).message);
    }
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...(token ? { authorization: `Bearer ${token}` } : {}) });
    const chunks: Buffer[] = [];
    let size = 0;
    let status: number | undefined;
    let contentType: string | undefined;
    let grpcStatus: string | undefined;
    stream.once("response", (h) => {
      clearTimeout(timer);
      status = h[":status"];
      contentType = h["content-type"];
      grpcStatus = h["grpc-status"] as string | undefined;
    });
    stream.once("trailers", (t) => (grpcStatus = t["grpc-status"] as string | undefined));
    stream.on("data", (c: Buffer) => {
      size += c.length;
      if (size > 5 + readMaxBytes) return fail("reply too large");
      chunks.push(c);
    });
    stream.on("error", (e) => fail(e.message));
    stream.once("close", () => {
      clearTimeout(timer);
      session!.close();
      if (status !== 200 || !/^application\/grpc(\+proto)?(;|$)/.test(contentType ?? "") || grpcStatus !== "0") {
        return reject(new QuickCallFailed(`HTTP ${status}, grpc-status ${grpcStatus}`));
      }
      const body = Buffer.concat(chunks, size);
      if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) return reject(new QuickCallFailed("not one uncompressed message"));
      try {
        resolve(decodeListUnits(body.subarray(5)).units);
      } catch (e) {
        reject(new QuickCallFailed(`cannot read the reply: ${(e as Error).message}`));
      }
    });
    stream.end(Buffer.alloc(5)); // one empty message: ListUnitsRequest has no fields
  });
}

/**
 * hsu.master.v1.ListUnitsResponse from its binary form, as `fromBinary` of
 * the generated schema builds it (`list-units.test.ts` compares the two on
 * a message with every field set, and fails when UnitStatus gains a field
 * this reader does not know). Unknown fields are skipped.
 */
export function decodeListUnits(bytes: Uint8Array): ListUnitsResponse {
  const r = new BinaryReader(bytes);
  const units: UnitStatus[] = [];
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) units.push(unitStatus(r, r.uint32()));
    else r.skip(wt, no);
  }
  return { $typeName: "hsu.master.v1.ListUnitsResponse", units };
}

function unitStatus(r: BinaryReader, length: number): UnitStatus {
  const end = r.pos + length;
  const u: UnitStatus = {
    $typeName: "hsu.master.v1.UnitStatus",
    id: "",
    kind: 0,
    state: "",
    pid: 0,
    restarts: 0,
    cpuPercent: 0,
    rssBytes: 0n,
    health: "",
    address: "",
    lastExit: "",
    pool: "",
    description: "",
    usageSampled: false,
    unitState: 0,
  };
  while (r.pos < end) {
    const [no, wt] = r.tag();
    switch (no << 3 | wt) {
      case (1 << 3) | WireType.LengthDelimited: u.id = r.string(); break;
      case (2 << 3) | WireType.Varint: u.kind = r.int32(); break;
      case (3 << 3) | WireType.LengthDelimited: u.state = r.string(); break;
      case (4 << 3) | WireType.Varint: u.pid = r.int32(); break;
      case (5 << 3) | WireType.LengthDelimited: u.startedAt = timestamp(r, r.uint32(), u.startedAt); break;
      case (6 << 3) | WireType.Varint: u.restarts = r.uint32(); break;
      case (7 << 3) | WireType.Bit64: u.cpuPercent = r.double(); break;
      case (8 << 3) | WireType.Varint: u.rssBytes = BigInt(r.uint64()); break;
      case (9 << 3) | WireType.LengthDelimited: u.health = r.string(); break;
      case (10 << 3) | WireType.LengthDelimited: u.address = r.string(); break;
      case (11 << 3) | WireType.LengthDelimited: u.lastExit = r.string(); break;
      case (12 << 3) | WireType.LengthDelimited: u.pool = r.string(); break;
      case (13 << 3) | WireType.LengthDelimited: u.description = r.string(); break;
      case (14 << 3) | WireType.LengthDelimited: u.nextRun = timestamp(r, r.uint32(), u.nextRun); break;
      case (15 << 3) | WireType.Varint: u.usageSampled = r.bool(); break;
      case (16 << 3) | WireType.Varint: u.unitState = r.int32(); break;
      default: r.skip(wt, no);
    }
  }
  if (r.pos !== end) throw new Error("a UnitStatus overran its length");
  return u;
}

// A message field seen twice merges, as protobuf requires.
function timestamp(r: BinaryReader, length: number, into?: Timestamp): Timestamp {
  const end = r.pos + length;
  const t: Timestamp = into ?? { $typeName: "google.protobuf.Timestamp", seconds: 0n, nanos: 0 };
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.Varint) t.seconds = BigInt(r.int64());
    else if (no === 2 && wt === WireType.Varint) t.nanos = r.int32();
    else r.skip(wt, no);
  }
  if (r.pos !== end) throw new Error("a Timestamp overran its length");
  return t;
}
