// One RPC of the conformance suite's client mode, made through a client of
// ConformanceService, recorded as a ClientResponseResult the way
// docs/testing_clients.md of connectrpc.com/conformance asks: response
// headers, every payload received, the RPC error (code, message, details) and
// the trailers, the requests left unsent. An RPC that fails is a result, not
// an exception; this module throws only when the request itself cannot be
// carried out (HarnessError), which the caller reports as a ClientErrorResult.
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { AnySchema, anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type CallOptions, type Client } from "@connectrpc/connect";
import { createWritableIterable, type WritableIterable } from "@connectrpc/connect/protocol";
import { setTimeout as sleep } from "node:timers/promises";
import { ClientResponseResultSchema, type ClientCompatRequest, type ClientResponseResult } from "./gen/connectrpc/conformance/v1/client_compat_pb.js";
import { Code as WireCode, StreamType } from "./gen/connectrpc/conformance/v1/config_pb.js";
import {
  BidiStreamRequestSchema,
  ClientStreamRequestSchema,
  ConformancePayloadSchema,
  ConformanceService,
  ErrorSchema,
  HeaderSchema,
  IdempotentUnaryRequestSchema,
  ServerStreamRequestSchema,
  UnaryRequestSchema,
  UnimplementedRequestSchema,
  type BidiStreamRequest,
  type ClientStreamRequest,
  type ConformancePayload,
  type Header,
} from "./gen/connectrpc/conformance/v1/service_pb.js";

export type ConformanceClient = Client<typeof ConformanceService>;

/** The request cannot be carried out by this client at all (not an RPC error). */
export class HarnessError extends Error {
  override readonly name = "HarnessError";
}

/** When to cancel, from ClientCompatRequest.cancel. */
interface CancelPlan {
  readonly beforeCloseSend: boolean;
  /** Delay after closing the send side, or undefined for none. */
  readonly afterCloseSendMs: number | undefined;
  /** Cancel right after this many responses, or undefined for none. */
  readonly afterNumResponses: number | undefined;
}

function cancelPlan(request: ClientCompatRequest): CancelPlan {
  const none: CancelPlan = { beforeCloseSend: false, afterCloseSendMs: undefined, afterNumResponses: undefined };
  if (request.cancel === undefined) return none;
  const timing = request.cancel.cancelTiming;
  switch (timing.case) {
    case "beforeCloseSend":
      return { ...none, beforeCloseSend: true };
    case "afterCloseSendMs":
      return { ...none, afterCloseSendMs: timing.value };
    case "afterNumResponses":
      return { ...none, afterNumResponses: timing.value };
    case undefined:
      // client_compat.proto: no timing means cancel right after close send.
      return { ...none, afterCloseSendMs: 0 };
  }
}

/** Makes the RPC `request` describes with `client`; resolves with what the client observed. */
export async function invoke(client: ConformanceClient, request: ClientCompatRequest): Promise<ClientResponseResult> {
  const service = request.service ?? ConformanceService.typeName;
  if (service !== ConformanceService.typeName) throw new HarnessError(`unknown service ${service}`);
  switch (request.method) {
    case ConformanceService.method.unary.name: {
      const message = unpackOne(request, UnaryRequestSchema);
      return unary(request, (options) => client.unary(message, options).then((r) => r.payload));
    }
    case ConformanceService.method.idempotentUnary.name: {
      const message = unpackOne(request, IdempotentUnaryRequestSchema);
      return unary(request, (options) => client.idempotentUnary(message, options).then((r) => r.payload));
    }
    case ConformanceService.method.unimplemented.name: {
      const message = unpackOne(request, UnimplementedRequestSchema);
      return unary(request, (options) => client.unimplemented(message, options).then(() => "no payload" as const));
    }
    case ConformanceService.method.serverStream.name:
      return serverStream(client, request);
    case ConformanceService.method.clientStream.name:
      return clientStream(client, request);
    case ConformanceService.method.bidiStream.name:
      if (request.streamType === StreamType.FULL_DUPLEX_BIDI_STREAM) return bidiStream(client, request, true);
      if (request.streamType === StreamType.HALF_DUPLEX_BIDI_STREAM) return bidiStream(client, request, false);
      throw new HarnessError(`BidiStream with stream type ${StreamType[request.streamType]}`);
    default:
      throw new HarnessError(`unknown method ${service}/${request.method}`);
  }
}

/** Per-call state: the result being filled in, the call options, the cancel switch. */
class Call {
  readonly result = create(ClientResponseResultSchema);
  readonly cancel: CancelPlan;
  private readonly controller = new AbortController();
  readonly options: CallOptions;

  constructor(request: ClientCompatRequest) {
    this.cancel = cancelPlan(request);
    const headers = new Headers();
    for (const h of request.requestHeaders) for (const v of h.value) headers.append(h.name, v);
    this.options = {
      headers,
      signal: this.controller.signal,
      onHeader: (h) => {
        this.result.responseHeaders = toWireHeaders(h);
      },
      onTrailer: (t) => {
        this.result.responseTrailers = toWireHeaders(t);
      },
      ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
    };
  }

  abort(): void {
    this.controller.abort();
  }

  /** Cancels `ms` from now without waiting (the call goes on and observes it). */
  abortAfter(ms: number): void {
    void sleep(ms).then(() => this.abort());
  }

  /** Records one response payload (an absent one as empty) and cancels once the planned count is reached. */
  received(payload: ConformancePayload | undefined): void {
    this.result.payloads.push(payload ?? create(ConformancePayloadSchema));
    if (this.result.payloads.length === this.cancel.afterNumResponses) this.abort();
  }

  /**
   * Records the RPC error. The error's metadata is all the client API gives
   * for a call that failed before its trailers were delivered: per the docs,
   * it goes in the trailers; headers stay as onHeader reported them (empty if
   * it never ran).
   */
  failed(error: unknown): void {
    const err = ConnectError.from(error);
    this.result.error = create(ErrorSchema, {
      code: err.code as number as WireCode,
      message: err.rawMessage,
      details: err.details.map(packDetail),
    });
    this.result.responseTrailers = toWireHeaders(err.metadata);
  }
}

function packDetail(detail: ConnectError["details"][number]): Any {
  if ("desc" in detail) {
    // Only errors made locally carry typed details; say what it was.
    return create(AnySchema, { typeUrl: `type.googleapis.com/${detail.desc.typeName}` });
  }
  return create(AnySchema, { typeUrl: `type.googleapis.com/${detail.type}`, value: detail.value });
}

function toWireHeaders(headers: Headers): Header[] {
  const out: Header[] = [];
  headers.forEach((value, name) => out.push(create(HeaderSchema, { name, value: [value] })));
  return out;
}

function unpackAll<Desc extends DescMessage>(request: ClientCompatRequest, schema: Desc): MessageShape<Desc>[] {
  return request.requestMessages.map((any, i) => {
    const message = anyUnpack(any, schema);
    if (message === undefined) throw new HarnessError(`request message ${i} is ${any.typeUrl}, expected ${schema.typeName}`);
    return message;
  });
}

function unpackOne<Desc extends DescMessage>(request: ClientCompatRequest, schema: Desc): MessageShape<Desc> {
  const all = unpackAll(request, schema);
  if (all.length !== 1) throw new HarnessError(`${request.method} takes exactly one request message, the test case has ${all.length}`);
  return all[0]!;
}

async function unary(
  request: ClientCompatRequest,
  send: (options: CallOptions) => Promise<ConformancePayload | undefined | "no payload">,
): Promise<ClientResponseResult> {
  const call = new Call(request);
  // The one request goes out with the call: "after close send" starts now.
  const pending = send(call.options);
  if (call.cancel.afterCloseSendMs !== undefined) call.abortAfter(call.cancel.afterCloseSendMs);
  try {
    const payload = await pending;
    if (payload !== "no payload") call.received(payload);
  } catch (e) {
    call.failed(e);
  }
  return call.result;
}

async function serverStream(client: ConformanceClient, request: ClientCompatRequest): Promise<ClientResponseResult> {
  const message = unpackOne(request, ServerStreamRequestSchema);
  const call = new Call(request);
  try {
    const responses = client.serverStream(message, call.options);
    if (call.cancel.afterCloseSendMs !== undefined) {
      await sleep(call.cancel.afterCloseSendMs);
      call.abort();
    }
    if (call.cancel.afterNumResponses === 0) call.abort();
    for await (const response of responses) call.received(response.payload);
  } catch (e) {
    call.failed(e);
  }
  return call.result;
}

/**
 * Sends `messages` one by one on `requests` (each after the request delay),
 * giving up as soon as `ended` settles (the call is over and nothing reads
 * the requests any more). Returns how many were not sent.
 */
async function sendEach<T>(
  requests: WritableIterable<T>,
  messages: readonly T[],
  delayMs: number,
  ended: Promise<unknown>,
  afterEach: (() => Promise<void>) | undefined,
): Promise<number> {
  const over = ended.then(
    () => "over" as const,
    () => "over" as const,
  );
  for (let i = 0; i < messages.length; i++) {
    if (delayMs > 0 && (await Promise.race([sleep(delayMs).then(() => "slept" as const), over])) === "over") return messages.length - i;
    const sent = await Promise.race([
      requests.write(messages[i]!).then(
        () => "sent" as const,
        () => "failed" as const,
      ),
      over,
    ]);
    if (sent !== "sent") return messages.length - i;
    if (afterEach !== undefined) await afterEach();
  }
  return 0;
}

/** Closes the send side, with the cancellation the test case plans around it. */
function closeSend<T>(call: Call, requests: WritableIterable<T>): void {
  if (call.cancel.beforeCloseSend) call.abort();
  requests.close();
  if (call.cancel.afterCloseSendMs !== undefined) call.abortAfter(call.cancel.afterCloseSendMs);
}

async function clientStream(client: ConformanceClient, request: ClientCompatRequest): Promise<ClientResponseResult> {
  const messages = unpackAll(request, ClientStreamRequestSchema);
  const call = new Call(request);
  const requests = createWritableIterable<ClientStreamRequest>();
  const response = client.clientStream(requests, call.options);
  const unsent = await sendEach(requests, messages, request.requestDelayMs, response, undefined);
  call.result.numUnsentRequests = unsent;
  closeSend(call, requests);
  try {
    call.received((await response).payload);
  } catch (e) {
    call.failed(e);
  }
  return call.result;
}

async function bidiStream(client: ConformanceClient, request: ClientCompatRequest, fullDuplex: boolean): Promise<ClientResponseResult> {
  const messages = unpackAll(request, BidiStreamRequestSchema);
  const call = new Call(request);
  const requests = createWritableIterable<BidiStreamRequest>();
  const responses = client.bidiStream(requests, call.options);
  if (call.cancel.afterNumResponses === 0) call.abort();
  // Responses are read as they come, for the whole call, so a send that
  // nobody will take any more (the stream is over) is noticed, and a cancel
  // after N responses happens right at the Nth.
  let wake: (() => void) | undefined;
  let over = false;
  const reading = (async () => {
    try {
      for await (const response of responses) {
        call.received(response.payload);
        wake?.();
      }
    } catch (e) {
      call.failed(e);
    } finally {
      over = true;
      wake?.();
    }
  })();
  // Full duplex: after each request, wait for its response (a stream may
  // answer fewer requests than it gets; its end ends the wait).
  const responseFor = async (count: number): Promise<void> => {
    while (!over && call.result.payloads.length < count) await new Promise<void>((resolve) => (wake = resolve));
  };
  let sent = 0;
  call.result.numUnsentRequests = await sendEach(requests, messages, request.requestDelayMs, reading, fullDuplex ? () => responseFor(++sent) : undefined);
  closeSend(call, requests);
  await reading;
  return call.result;
}
