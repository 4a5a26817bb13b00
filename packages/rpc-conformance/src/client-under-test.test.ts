// The client under test as the runner drives it: a child process fed
// ClientCompatRequests on stdin, against a real local ConformanceService (a
// small connect-node one here, not the runner's reference server), its
// ClientCompatResponses read back from stdout. What this proves: every result
// comes back under its own test name, RPC errors land in the result (not as a
// harness error), a request the harness cannot make is a ClientErrorResult
// without disturbing the others, cancellation and deadlines reach the server,
// the message receive limit reaches the transport, and the process ends
// by itself at the end of stdin.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ClientCompatRequestSchema,
  ClientCompatResponseSchema,
  type ClientCompatRequest,
  type ClientCompatResponse,
  type ClientResponseResult,
} from "./gen/connectrpc/conformance/v1/client_compat_pb.js";
import { Codec, Compression, HTTPVersion, Protocol, StreamType, Code as WireCode } from "./gen/connectrpc/conformance/v1/config_pb.js";
import {
  BidiStreamRequestSchema,
  ClientStreamRequestSchema,
  ConformanceService,
  ServerStreamRequestSchema,
  UnaryRequestSchema,
  type Header,
} from "./gen/connectrpc/conformance/v1/service_pb.js";
import { readDelimited, writeDelimited } from "./stdio.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Waits until the call is cancelled or times out, as a server stuck on a slow backend would. */
function untilAborted(context: HandlerContext): Promise<never> {
  return new Promise((_, reject) => context.signal.addEventListener("abort", () => reject(context.signal.reason), { once: true }));
}

function routes(router: ConnectRouter): void {
  router.service(ConformanceService, {
    unary(request, context) {
      const data = text(request.requestData);
      if (data === "hang") return untilAborted(context);
      if (data === "big") return { payload: { data: new Uint8Array(1000) } };
      context.responseHeader.set("x-seen", context.requestHeader.get("x-probe") ?? "none");
      if (data === "fail") throw new ConnectError("refused", Code.FailedPrecondition, { "x-why": "because" });
      context.responseTrailer.set("x-trailer", "t");
      return { payload: { data: bytes(`echo:${data}`) } };
    },
    async *serverStream(request, context) {
      if (text(request.requestData) === "big") yield { payload: { data: new Uint8Array(1000) } };
      yield { payload: { data: bytes("first") } };
      if (text(request.requestData) === "then-hang") await untilAborted(context);
      yield { payload: { data: bytes("second") } };
    },
    async clientStream(requests) {
      const parts: string[] = [];
      for await (const r of requests) parts.push(text(r.requestData));
      return { payload: { data: bytes(parts.join("+")) } };
    },
    async *bidiStream(requests) {
      for await (const r of requests) yield { payload: { data: bytes(`re:${text(r.requestData)}`) } };
    },
  });
}

let server: http2.Http2Server;
let port = 0;
beforeAll(async () => {
  server = http2.createServer(connectNodeAdapter({ routes, grpc: true, connect: false, grpcWeb: false }));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.close();
});

type Case = Omit<Exclude<MessageInitShape<typeof ClientCompatRequestSchema>, ClientCompatRequest>, "host" | "port">;

/** Runs the client under test on `cases`, as the runner does; resolves with its responses by test name once it exits. */
async function runClient(fastUnary: "on" | "off", cases: Case[]): Promise<Map<string, ClientCompatResponse>> {
  const child = spawn(process.execPath, ["--conditions=@hsu/source", join(import.meta.dirname, "client-under-test.ts"), `--fast-unary=${fastUnary}`], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  for (const c of cases) {
    await writeDelimited(
      child.stdin,
      ClientCompatRequestSchema,
      create(ClientCompatRequestSchema, {
        httpVersion: HTTPVersion.HTTP_VERSION_2,
        protocol: Protocol.GRPC,
        codec: Codec.PROTO,
        compression: Compression.IDENTITY,
        host: "127.0.0.1",
        port,
        service: ConformanceService.typeName,
        ...c,
      }),
    );
  }
  child.stdin.end();
  const responses = new Map<string, ClientCompatResponse>();
  for await (const r of readDelimited(child.stdout, ClientCompatResponseSchema)) {
    expect(responses.has(r.testName), `two responses for ${r.testName}`).toBe(false);
    responses.set(r.testName, r);
  }
  const [code] = await exited;
  expect(code).toBe(0);
  return responses;
}

function resultOf(responses: Map<string, ClientCompatResponse>, name: string): ClientResponseResult {
  const r = responses.get(name);
  if (r?.result.case !== "response") throw new Error(`${name}: expected an RPC result, got ${JSON.stringify(r?.result)}`);
  return r.result.value;
}

const headerValue = (headers: Header[], name: string) => headers.find((h) => h.name === name)?.value.join(",");
const payloadTexts = (result: ClientResponseResult) => result.payloads.map((p) => text(p.data));

describe.each(["on", "off"] as const)("client under test, fast path %s", (fastUnary) => {
  it("runs every kind of call from stdin and writes each result, under its name, to stdout", async () => {
    const unary = (testName: string, data: string, more: Partial<Case> = {}): Case => ({
      testName,
      method: "Unary",
      streamType: StreamType.UNARY,
      requestMessages: [anyPack(UnaryRequestSchema, create(UnaryRequestSchema, { requestData: bytes(data) }))],
      ...more,
    });
    const responses = await runClient(fastUnary, [
      unary("unary/ok", "hi", { requestHeaders: [{ name: "x-probe", value: ["p1"] }] }),
      unary("unary/error", "fail"),
      unary("unary/timeout", "hang", { timeoutMs: 200 }),
      unary("unary/cancel", "hang", { cancel: { cancelTiming: { case: "afterCloseSendMs", value: 0 } } }),
      { ...unary("unknown/method", "x"), method: "NoSuchMethod" },
      // The suite (v1.0.7) has no client case for message_receive_limit; these check it reaches the transport.
      unary("unary/over-limit", "big", { messageReceiveLimit: 100 }),
      unary("unary/under-limit", "big", { messageReceiveLimit: 2000 }),
      {
        testName: "server-stream/over-limit",
        method: "ServerStream",
        streamType: StreamType.SERVER_STREAM,
        requestMessages: [anyPack(ServerStreamRequestSchema, create(ServerStreamRequestSchema, { requestData: bytes("big") }))],
        messageReceiveLimit: 100,
      },
      {
        testName: "server-stream/cancel-after-1",
        method: "ServerStream",
        streamType: StreamType.SERVER_STREAM,
        requestMessages: [anyPack(ServerStreamRequestSchema, create(ServerStreamRequestSchema, { requestData: bytes("then-hang") }))],
        cancel: { cancelTiming: { case: "afterNumResponses", value: 1 } },
      },
      {
        testName: "client-stream/ok",
        method: "ClientStream",
        streamType: StreamType.CLIENT_STREAM,
        requestMessages: ["a", "b", "c"].map((d) => anyPack(ClientStreamRequestSchema, create(ClientStreamRequestSchema, { requestData: bytes(d) }))),
      },
      {
        testName: "bidi/full-duplex",
        method: "BidiStream",
        streamType: StreamType.FULL_DUPLEX_BIDI_STREAM,
        requestMessages: ["1", "2", "3"].map((d) => anyPack(BidiStreamRequestSchema, create(BidiStreamRequestSchema, { requestData: bytes(d) }))),
      },
      {
        testName: "bidi/half-duplex",
        method: "BidiStream",
        streamType: StreamType.HALF_DUPLEX_BIDI_STREAM,
        requestMessages: ["x", "y"].map((d) => anyPack(BidiStreamRequestSchema, create(BidiStreamRequestSchema, { requestData: bytes(d) }))),
      },
    ]);
    expect([...responses.keys()].sort()).toEqual(
      [
        "bidi/full-duplex",
        "bidi/half-duplex",
        "client-stream/ok",
        "server-stream/cancel-after-1",
        "unary/cancel",
        "unary/error",
        "unary/ok",
        "unary/timeout",
        "unary/over-limit",
        "unary/under-limit",
        "server-stream/over-limit",
        "unknown/method",
      ].sort(),
    );

    const ok = resultOf(responses, "unary/ok");
    expect(payloadTexts(ok)).toEqual(["echo:hi"]);
    expect(headerValue(ok.responseHeaders, "x-seen")).toBe("p1");
    expect(headerValue(ok.responseTrailers, "x-trailer")).toBe("t");
    expect(ok.error).toBeUndefined();

    // An RPC error is a result with the error and its metadata, not a harness failure.
    const failed = resultOf(responses, "unary/error");
    expect(failed.payloads).toEqual([]);
    expect(failed.error?.code).toBe(WireCode.FAILED_PRECONDITION);
    expect(failed.error?.message).toBe("refused");
    expect(headerValue(failed.responseTrailers, "x-why")).toBe("because");

    expect(resultOf(responses, "unary/timeout").error?.code).toBe(WireCode.DEADLINE_EXCEEDED);
    expect(resultOf(responses, "unary/cancel").error?.code).toBe(WireCode.CANCELED);

    expect(resultOf(responses, "unary/over-limit").error?.code).toBe(WireCode.RESOURCE_EXHAUSTED);
    expect(resultOf(responses, "unary/under-limit").payloads[0]?.data.length).toBe(1000);
    expect(resultOf(responses, "server-stream/over-limit").error?.code).toBe(WireCode.RESOURCE_EXHAUSTED);

    const unknown = responses.get("unknown/method");
    expect(unknown?.result.case).toBe("error");
    expect(unknown?.result.value?.$typeName).toBe("connectrpc.conformance.v1.ClientErrorResult");

    const cancelled = resultOf(responses, "server-stream/cancel-after-1");
    expect(payloadTexts(cancelled)).toEqual(["first"]);
    expect(cancelled.error?.code).toBe(WireCode.CANCELED);

    expect(payloadTexts(resultOf(responses, "client-stream/ok"))).toEqual(["a+b+c"]);
    expect(payloadTexts(resultOf(responses, "bidi/full-duplex"))).toEqual(["re:1", "re:2", "re:3"]);
    expect(payloadTexts(resultOf(responses, "bidi/half-duplex"))).toEqual(["re:x", "re:y"]);
    for (const name of ["client-stream/ok", "bidi/full-duplex", "bidi/half-duplex"]) {
      expect(resultOf(responses, name).numUnsentRequests).toBe(0);
      expect(resultOf(responses, name).error).toBeUndefined();
    }
  });

  it("refuses a case the unit transport cannot make (here: TLS) as a harness error naming why", async () => {
    const responses = await runClient(fastUnary, [
      {
        testName: "tls",
        method: "Unary",
        streamType: StreamType.UNARY,
        serverTlsCert: bytes("-----BEGIN CERTIFICATE-----"),
        requestMessages: [anyPack(UnaryRequestSchema, create(UnaryRequestSchema))],
      },
    ]);
    const r = responses.get("tls");
    expect(r?.result.case).toBe("error");
    expect(r?.result.case === "error" ? r.result.value.message : "").toMatch(/TLS/);
  });
});
