// An experiment, not a product: the least gRPC that node:http2 can carry for
// unary calls (one envelope each way, grpc-status trailer), server and
// client, with the same protobuf-es encoding. It shows how much of the
// connect-node cost is node:http2 itself and what a dedicated unary fast
// path could reach. No deadlines, metadata, compression or error details.
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import * as http2 from "node:http2";
import { connect } from "node:net";
import * as protobuf from "@bufbuild/protobuf";

const { fromBinary, toBinary } = protobuf;

/** One unary method for {@link createRawH2Server}. */
export interface RawMethod<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> {
  input: I;
  output: O;
  handle(req: MessageShape<I>): MessageShape<O>;
}

/** Pairs a handler with its message schemas, keeping it typed. */
export function rawMethod<I extends DescMessage, O extends DescMessage>(
  input: I,
  output: O,
  handle: (req: MessageShape<I>) => MessageShape<O>,
): RawMethod {
  return { input, output, handle } as unknown as RawMethod;
}

function envelope(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

function unwrap(chunks: Buffer[]): Uint8Array {
  const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  return all.subarray(5, 5 + all.readUInt32BE(1));
}

/** An h2c server answering unary gRPC calls on the given paths. */
export function createRawH2Server(methods: Record<string, RawMethod>): http2.Http2Server {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const method = methods[headers[":path"] as string];
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      if (!method) {
        stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
        return;
      }
      const reply = method.handle(fromBinary(method.input, unwrap(chunks)));
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(envelope(toBinary(method.output, reply)));
    });
  });
  return server;
}

/** A client making unary gRPC calls over one HTTP/2 session to `address` (unix:/path or host:port). */
export function createRawH2Client(address: string) {
  const session = address.startsWith("unix:")
    ? http2.connect("http://localhost", { createConnection: () => connect(address.slice(5)) })
    : http2.connect(`http://${address}`, { createConnection: () => connect({ host: address.split(":")[0], port: Number(address.split(":")[1]), noDelay: true }) });
  return function unary<I extends DescMessage, O extends DescMessage>(path: string, input: I, output: O, req: MessageShape<I>): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      stream.on("response", (h) => (status = h["grpc-status"] as string | undefined));
      stream.on("trailers", (h) => (status = h["grpc-status"] as string | undefined));
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", reject);
      stream.on("close", () => (status === "0" ? resolve(fromBinary(output, unwrap(chunks))) : reject(new Error(`grpc-status ${status ?? "missing"}`))));
      stream.end(envelope(toBinary(input, req)));
    });
  };
}
