import { create, createFileRegistry, toBinary } from "@bufbuild/protobuf";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorProtoSchema, file_google_protobuf_wrappers, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope } from "./grpc-wire.ts";
import { createUnitTransport } from "./transport.ts";

// Replies no well-behaved server sends, crafted frame by frame on node:http2:
// the unary fast path must read each one as connect-node's transport does
// (and as the gRPC spec and the conformance suite expect): the same code, and
// the metadata of the headers as well as the trailers on an error.
const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "fast_transport_replies_test.proto",
    package: "hsu.test",
    syntax: "proto3",
    dependency: ["google/protobuf/wrappers.proto"],
    service: [
      {
        name: "Say",
        method: [
          { name: "Hello", inputType: ".google.protobuf.StringValue", outputType: ".google.protobuf.StringValue" },
          { name: "Many", inputType: ".google.protobuf.StringValue", outputType: ".google.protobuf.StringValue", serverStreaming: true },
        ],
      },
    ],
  }),
  () => file_google_protobuf_wrappers,
);
const Say = registry.getService("hsu.test.Say") as unknown as GenService<{
  hello: { methodKind: "unary"; input: typeof StringValueSchema; output: typeof StringValueSchema };
  many: { methodKind: "server_streaming"; input: typeof StringValueSchema; output: typeof StringValueSchema };
}>;

const ok = envelope(toBinary(StringValueSchema, create(StringValueSchema, { value: "hi" })));

interface Reply {
  headers: http2.OutgoingHttpHeaders;
  /** DATA written after the headers (none: a trailers-only or empty reply). */
  body?: Buffer;
  /** Sent as a trailers frame; without it the stream ends after the body. */
  trailers?: http2.OutgoingHttpHeaders;
}

const grpcHead = { ":status": 200, "content-type": "application/grpc" };

/** name -> the reply, and the code a gRPC client must report. */
const cases: Record<string, { reply: Reply; code: Code; metadata?: Record<string, string> }> = {
  "an error in the trailers keeps the headers' metadata too": {
    reply: { headers: { ...grpcHead, "x-request-id": "r-1" }, trailers: { "grpc-status": "9", "grpc-message": "no", "x-retry": "later" } },
    code: Code.FailedPrecondition,
    metadata: { "x-request-id": "r-1", "x-retry": "later" },
  },
  "a trailers-only error keeps its metadata": {
    reply: { headers: { ...grpcHead, "grpc-status": "5", "grpc-message": "gone", "x-request-id": "r-2" } },
    code: Code.NotFound,
    metadata: { "x-request-id": "r-2" },
  },
  "a status in the headers is ignored when a body follows (no trailers: the status is missing)": {
    reply: { headers: { ...grpcHead, "grpc-status": "9" }, body: ok },
    code: Code.Unknown,
  },
  "a status in the trailers wins over one in the headers": {
    reply: { headers: { ...grpcHead, "grpc-status": "8" }, trailers: { "grpc-status": "9" } },
    code: Code.FailedPrecondition,
  },
  "a reply that is not gRPC is UNKNOWN": {
    reply: { headers: { ":status": 200, "content-type": "image/jpeg" }, body: Buffer.from("jpeg") },
    code: Code.Unknown,
  },
  "a JSON reply to a binary call is INTERNAL": {
    reply: { headers: { ":status": 200, "content-type": "application/grpc+json" }, body: envelope(Buffer.from("{}")), trailers: { "grpc-status": "0" } },
    code: Code.Internal,
  },
  "an encoding nobody asked for is INTERNAL": {
    reply: { headers: { ...grpcHead, "grpc-encoding": "foo" }, body: ok, trailers: { "grpc-status": "0" } },
    code: Code.Internal,
  },
  "a compressed message under identity is INTERNAL": {
    reply: { headers: grpcHead, body: Buffer.concat([Buffer.from([1]), ok.subarray(1)]), trailers: { "grpc-status": "0" } },
    code: Code.Internal,
  },
  "a body cut inside the message is INTERNAL": {
    reply: { headers: grpcHead, body: Buffer.from([0, 0, 0, 0, 10, 0, 0, 0, 0]), trailers: { "grpc-status": "0" } },
    code: Code.Internal,
  },
  "a body cut inside the prefix is INTERNAL": {
    reply: { headers: grpcHead, body: Buffer.from([0, 0, 0]), trailers: { "grpc-status": "0" } },
    code: Code.Internal,
  },
  "two messages for a unary call is UNIMPLEMENTED": {
    reply: { headers: grpcHead, body: Buffer.concat([ok, ok]), trailers: { "grpc-status": "0" } },
    code: Code.Unimplemented,
  },
  "OK with no message is UNIMPLEMENTED": {
    reply: { headers: grpcHead, trailers: { "grpc-status": "0" } },
    code: Code.Unimplemented,
  },
  "no status anywhere is INTERNAL": {
    reply: { headers: grpcHead, body: ok },
    code: Code.Internal,
  },
  "an HTTP error keeps its headers": {
    reply: { headers: { ":status": 503, "x-why": "overloaded" } },
    code: Code.Unavailable,
    metadata: { "x-why": "overloaded" },
  },
};

describe("the unary fast path reads malformed replies as connect-node does", () => {
  let dir: string;
  let server: http2.Http2Server;
  let address: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "hsu-replies-"));
    address = `unix:${join(dir, "s.sock")}`;
    server = http2.createServer();
    server.on("stream", (stream, headers) => {
      stream.on("error", () => {});
      const name = decodeURIComponent(String(headers["x-case"]));
      const c = cases[name];
      stream.resume();
      stream.once("end", () => {
        if (c === undefined) {
          stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "2", "grpc-message": "no such case" }, { endStream: true });
          return;
        }
        const { headers: head, body, trailers } = c.reply;
        if (body === undefined && trailers === undefined) {
          stream.respond(head, { endStream: true });
          return;
        }
        stream.respond(head, { waitForTrailers: trailers !== undefined });
        if (trailers !== undefined) stream.once("wantTrailers", () => stream.sendTrailers(trailers));
        stream.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(join(dir, "s.sock"), resolve));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, c] of Object.entries(cases)) {
    it(name, async () => {
      for (const fastUnary of [true, false]) {
        const client = createClient(Say, createUnitTransport(address, { fastUnary }));
        const outcome = await client.hello({ value: "x" }, { headers: { "x-case": encodeURIComponent(name) }, timeoutMs: 10_000 }).then(
          (res) => `answered ${res.value}`,
          (e: unknown) => ConnectError.from(e),
        );
        const path = fastUnary ? "fast path" : "connect-node";
        expect(outcome, `${path}: a ConnectError`).toBeInstanceOf(ConnectError);
        const err = outcome as ConnectError;
        expect(Code[err.code], `${path}: ${err.message}`).toBe(Code[c.code]);
        for (const [key, value] of Object.entries(c.metadata ?? {})) {
          expect(err.metadata.get(key), `${path}: metadata ${key}`).toBe(value);
        }
      }
    });
  }

  it("a server stream cut inside a message is INTERNAL, not INVALID_ARGUMENT", async () => {
    cases["stream cut"] = {
      reply: { headers: grpcHead, body: Buffer.concat([ok, Buffer.from([0, 0, 0, 0, 10, 0])]), trailers: { "grpc-status": "0" } },
      code: Code.Internal,
    };
    for (const fastUnary of [true, false]) {
      const client = createClient(Say, createUnitTransport(address, { fastUnary }));
      const got: string[] = [];
      const err = await (async () => {
        for await (const m of client.many({ value: "x" }, { headers: { "x-case": "stream%20cut" }, timeoutMs: 10_000 })) got.push(m.value);
      })().then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(got).toEqual(["hi"]);
      expect(err && Code[err.code]).toBe(Code[Code.Internal]);
    }
  });
});
