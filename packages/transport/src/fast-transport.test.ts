import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorProtoSchema, file_google_protobuf_wrappers, StringValueSchema, type StringValue } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createUnitTransport } from "./transport.ts";

// A one-method service built here (the transport package sits below @hsu/proto).
const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "fast_transport_test.proto",
    package: "hsu.test",
    syntax: "proto3",
    dependency: ["google/protobuf/wrappers.proto"],
    service: [
      {
        name: "Say",
        method: [{ name: "Hello", inputType: ".google.protobuf.StringValue", outputType: ".google.protobuf.StringValue" }],
      },
    ],
  }),
  () => file_google_protobuf_wrappers,
);
const Say = registry.getService("hsu.test.Say") as unknown as GenService<{
  hello: { methodKind: "unary"; input: typeof StringValueSchema; output: typeof StringValueSchema };
}>;
const Status = { SERVING: "serving", UNKNOWN: "unknown" };
const Health = Say;
const HealthCheckRequestSchema = StringValueSchema;
const HealthCheckResponseSchema = StringValueSchema;
type HealthCheckRequest = StringValue;
type HealthCheckResponse = StringValue;

type Check = grpc.handleUnaryCall<HealthCheckRequest, HealthCheckResponse>;

/** A stock grpc-js server serving grpc.health.v1.Health/Check with the given handler. */
async function grpcJsServer(check: Check): Promise<{ address: string; server: grpc.Server }> {
  const server = new grpc.Server();
  const definition: grpc.ServiceDefinition = {
    hello: {
      path: "/hsu.test.Say/Hello",
      requestStream: false,
      responseStream: false,
      requestSerialize: (m: HealthCheckRequest) => Buffer.from(toBinary(HealthCheckRequestSchema, m)),
      requestDeserialize: (b: Buffer) => fromBinary(HealthCheckRequestSchema, b),
      responseSerialize: (m: HealthCheckResponse) => Buffer.from(toBinary(HealthCheckResponseSchema, m)),
      responseDeserialize: (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
    },
  };
  server.addService(definition, { hello: check } as grpc.UntypedServiceImplementation);
  const address = `unix:${join(mkdtempSync(join(tmpdir(), "hsu-fastc-")), "g.sock")}`;
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
  );
  return { address, server };
}

describe("unary fast path (client) against a grpc-js server", () => {
  let server: grpc.Server | undefined;
  afterEach(() => {
    server?.forceShutdown();
    server = undefined;
  });

  it("calls, sends the bearer token and user headers, and reads header and trailer", async () => {
    let auth: grpc.MetadataValue[] = [];
    let custom: grpc.MetadataValue[] = [];
    const s = await grpcJsServer((call, cb) => {
      auth = call.metadata.get("authorization");
      custom = call.metadata.get("x-custom");
      const header = new grpc.Metadata();
      header.set("x-head", "h");
      call.sendMetadata(header);
      const trailer = new grpc.Metadata();
      trailer.set("x-tail", "t");
      cb(null, create(HealthCheckResponseSchema, { value: call.request.value === "a" ? Status.SERVING : Status.UNKNOWN }), trailer);
    });
    server = s.server;
    const client = createClient(Health, createUnitTransport(s.address, { token: "sekret" }));
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const res = await client.hello({ value: "a" }, { headers: { "x-custom": "c" }, onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) });
    expect(res.value).toBe(Status.SERVING);
    expect(auth).toEqual(["Bearer sekret"]);
    expect(custom).toEqual(["c"]);
    expect(header?.get("x-head")).toBe("h");
    expect(trailer?.get("x-tail")).toBe("t");
    // With interceptors: they see the token header and their headers are sent.
    let seenAuth: string | null = null;
    const intercepted = createClient(
      Health,
      createUnitTransport(s.address, {
        token: "sekret",
        interceptors: [
          (next) => (req) => {
            seenAuth = req.header.get("authorization");
            req.header.set("x-custom", "from-interceptor");
            return next(req);
          },
        ],
      }),
    );
    expect((await intercepted.hello({ value: "a" })).value).toBe(Status.SERVING);
    expect(seenAuth).toBe("Bearer sekret");
    expect(auth).toEqual(["Bearer sekret"]);
    expect(custom).toEqual(["from-interceptor"]);
  });

  it("throws a ConnectError with the code, message and metadata of a trailers-only error", async () => {
    const s = await grpcJsServer((_call, cb) => {
      const md = new grpc.Metadata();
      md.set("x-why", "because");
      cb({ code: grpc.status.FAILED_PRECONDITION, details: "not now: 50% done", metadata: md });
    });
    server = s.server;
    const client = createClient(Health, createUnitTransport(s.address));
    const err = ConnectError.from(await client.hello({}).catch((e: unknown) => e));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe("not now: 50% done");
    expect(err.metadata.get("x-why")).toBe("because");
  });

  it("fails with DEADLINE_EXCEEDED at the call's timeout, and CANCELED on the caller's signal", async () => {
    // A handler that never answers.
    const s = await grpcJsServer(() => {});
    server = s.server;
    const client = createClient(Health, createUnitTransport(s.address));
    const late = ConnectError.from(await client.hello({}, { timeoutMs: 50 }).catch((e: unknown) => e));
    expect(late.code).toBe(Code.DeadlineExceeded);
    const ac = new AbortController();
    const pending = client.hello({}, { signal: ac.signal }).catch((e: unknown) => e);
    setImmediate(() => ac.abort());
    expect(ConnectError.from(await pending).code).toBe(Code.Canceled);
  });

  it("refuses to send a message over writeMaxBytes and reports UNAVAILABLE once the server is gone", async () => {
    const s = await grpcJsServer((_call, cb) => cb(null, create(HealthCheckResponseSchema, { value: Status.SERVING })));
    server = s.server;
    const transport = createUnitTransport(s.address, { writeMaxBytes: 64 });
    const client = createClient(Health, transport);
    const big = ConnectError.from(await client.hello({ value: "x".repeat(100) }).catch((e: unknown) => e));
    expect(big.code).toBe(Code.ResourceExhausted);
    expect((await client.hello({})).value).toBe(Status.SERVING);
    server.forceShutdown();
    const down = ConnectError.from(await client.hello({}).catch((e: unknown) => e));
    expect(down.code).toBe(Code.Unavailable);
  });
});
