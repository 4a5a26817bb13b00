// connectrpc.conformance.v1.ConformanceService as an HSU unit service: it
// answers the way each request's response definition asks (data, headers,
// trailers, an error, a delay) and echoes what it received (headers, timeout,
// the requests, a Connect GET's query), as docs/testing_servers.md of
// connectrpc.com/conformance describes and its Go reference server does.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, type Any } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { unitService, type UnitService } from "@hsu/server";
import { setTimeout as sleep } from "node:timers/promises";
import {
  BidiStreamRequestSchema,
  ClientStreamRequestSchema,
  ConformancePayload_ConnectGetInfoSchema,
  ConformancePayload_RequestInfoSchema,
  ConformanceService,
  HeaderSchema,
  IdempotentUnaryRequestSchema,
  ServerStreamRequestSchema,
  UnaryRequestSchema,
  type ConformancePayload_RequestInfo,
  type ConformancePayloadSchema,
  type Error as ConformanceError,
  type Header,
  type StreamResponseDefinition,
  type UnaryResponseDefinition,
} from "./gen/connectrpc/conformance/v1/service_pb.js";

type Payload = MessageInitShape<typeof ConformancePayloadSchema>;

/** The conformance service; Unimplemented is left out so the unit answers UNIMPLEMENTED itself. */
export function conformanceService(): UnitService<typeof ConformanceService> {
  return unitService(ConformanceService, {
    unary: (req, ctx) => unary(req.responseDefinition, [anyPack(UnaryRequestSchema, req)], ctx),
    idempotentUnary: (req, ctx) => unary(req.responseDefinition, [anyPack(IdempotentUnaryRequestSchema, req)], ctx),
    async clientStream(requests, ctx) {
      let def: UnaryResponseDefinition | undefined;
      let first = true;
      const received: Any[] = [];
      for await (const req of requests) {
        // Only the first message's definition counts (the suite's rule).
        if (first) def = req.responseDefinition;
        first = false;
        received.push(anyPack(ClientStreamRequestSchema, req));
      }
      return unary(def, received, ctx);
    },
    async *serverStream(req, ctx) {
      const def = req.responseDefinition;
      if (def === undefined) return;
      addHeaders(ctx.responseHeader, def.responseHeaders);
      addHeaders(ctx.responseTrailer, def.responseTrailers);
      const received = [anyPack(ServerStreamRequestSchema, req)];
      let sent = 0;
      for (const data of def.responseData) {
        await delay(def.responseDelayMs, ctx);
        yield { payload: { data, requestInfo: sent === 0 ? requestInfo(ctx, received) : undefined } };
        sent++;
      }
      if (def.error !== undefined) throw errorFrom(def.error, sent === 0 ? requestInfo(ctx, received) : undefined);
    },
    async *bidiStream(requests, ctx) {
      let def: StreamResponseDefinition | undefined;
      let fullDuplex = false;
      let first = true;
      let sent = 0;
      let received: Any[] = [];
      for await (const req of requests) {
        received.push(anyPack(BidiStreamRequestSchema, req));
        if (first) {
          def = req.responseDefinition;
          fullDuplex = req.fullDuplex;
          addHeaders(ctx.responseHeader, def?.responseHeaders ?? []);
          addHeaders(ctx.responseTrailer, def?.responseTrailers ?? []);
          first = false;
        }
        if (!fullDuplex) continue;
        // Full duplex: one response per request, echoing the requests since the last one.
        const data = def?.responseData[sent];
        if (data === undefined) break;
        const info = sent === 0 ? requestInfo(ctx, received) : { requests: received };
        await delay(def!.responseDelayMs, ctx);
        yield { payload: { data, requestInfo: info } };
        sent++;
        received = [];
      }
      // Half duplex (nothing sent yet), or more responses asked for than requests came.
      const responseData = def?.responseData ?? [];
      for (; sent < responseData.length; sent++) {
        await delay(def!.responseDelayMs, ctx);
        yield { payload: { data: responseData[sent], requestInfo: sent === 0 ? requestInfo(ctx, received) : undefined } };
      }
      if (def?.error !== undefined) throw errorFrom(def.error, sent === 0 ? requestInfo(ctx, received) : undefined);
    },
  });
}

async function unary(def: UnaryResponseDefinition | undefined, received: Any[], ctx: HandlerContext): Promise<{ payload: Payload }> {
  const info = requestInfo(ctx, received);
  if (def === undefined) return { payload: { requestInfo: info } };
  addHeaders(ctx.responseHeader, def.responseHeaders);
  addHeaders(ctx.responseTrailer, def.responseTrailers);
  if (def.response.case === "error") throw errorFrom(def.response.value, info);
  await delay(def.responseDelayMs, ctx);
  return { payload: { requestInfo: info, data: def.response.value } };
}

/** What the call received: its headers, its timeout, its requests, and a Connect GET's query. */
function requestInfo(ctx: HandlerContext, received: Any[]): ConformancePayload_RequestInfo {
  const timeoutMs = ctx.timeoutMs();
  const info = create(ConformancePayload_RequestInfoSchema, {
    requestHeaders: headersToProto(ctx.requestHeader),
    requests: received,
    timeoutMs: timeoutMs === undefined ? undefined : BigInt(Math.max(0, Math.trunc(timeoutMs))),
  });
  if (ctx.requestMethod === "GET") {
    const query = new URL(ctx.url).searchParams;
    const queryParams = [...new Set(query.keys())].map((name) => header(name, query.getAll(name)));
    info.connectGetInfo = create(ConformancePayload_ConnectGetInfoSchema, { queryParams });
  }
  return info;
}

/** The error a definition asks for; its details go out as given (raw Any), then the request info. */
function errorFrom(def: ConformanceError, info: ConformancePayload_RequestInfo | undefined): ConnectError {
  const error = new ConnectError(def.message ?? "", def.code as number as Code);
  for (const any of def.details) {
    error.details.push({ type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1), value: any.value });
  }
  if (info !== undefined) error.details.push({ desc: ConformancePayload_RequestInfoSchema, value: info });
  return error;
}

function addHeaders(target: Headers, headers: readonly Header[]): void {
  for (const h of headers) for (const value of h.value) target.append(h.name, value);
}

function headersToProto(headers: Headers): Header[] {
  const out: Header[] = [];
  headers.forEach((value, name) => out.push(header(name, [value])));
  return out;
}

function header(name: string, value: string[]): Header {
  return create(HeaderSchema, { name, value });
}

/**
 * Waits the definition's delay. A call that times out or is cancelled stops
 * waiting and fails with the call's own reason (deadline_exceeded, canceled),
 * not the timer's AbortError.
 */
async function delay(ms: number, ctx: HandlerContext): Promise<void> {
  if (ms <= 0) return;
  try {
    await sleep(ms, undefined, { signal: ctx.signal });
  } catch (e) {
    throw ctx.signal.aborted ? ctx.signal.reason : e;
  }
}
