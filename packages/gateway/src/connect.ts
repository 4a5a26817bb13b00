import { fromBinary, fromJsonString, toBinary, toJson, type DescMessage, type DescMethod, type Registry } from "@bufbuild/protobuf";
import { readBody } from "./body.ts";
import { writeHead } from "./respond.ts";
import type { CallError, CallMetadata, GatewayRequest, GatewayResponse, Protocol, ProtocolContext, RoutedService } from "./protocol.ts";
import { codeName, GatewayError, httpStatusOf } from "./status.ts";
import { createJsonStreamWriter, streamFormatOf, writeChunk } from "./stream-writers.ts";

/** A routed RPC: its method and the route it came by. */
export interface RoutedMethod {
  readonly route: RoutedService;
  readonly method: DescMethod;
}

/** Result of looking a request path up among the routed services. */
export type MethodLookup =
  | { readonly kind: "method"; readonly found: RoutedMethod }
  | { readonly kind: "no-method"; readonly route: RoutedService; readonly name: string }
  | { readonly kind: "none" };

/** Finds `{prefix}/pkg.Service/Method` among the routed services (exact match: no normalisation of the path). */
export function createMethodTable(services: readonly RoutedService[]): (path: string) => MethodLookup {
  const methods = new Map<string, RoutedMethod>();
  const byService = new Map<string, RoutedService>();
  for (const route of services) {
    byService.set(`${route.prefix}/${route.service.typeName}`, route);
    for (const method of route.service.methods) methods.set(`${route.prefix}/${route.service.typeName}/${method.name}`, { route, method });
  }
  return (path) => {
    const found = methods.get(path);
    if (found) return { kind: "method", found };
    const cut = path.lastIndexOf("/");
    const route = cut > 0 ? byService.get(path.slice(0, cut)) : undefined;
    return route ? { kind: "no-method", route, name: path.slice(cut + 1) } : { kind: "none" };
  };
}

/** Response headers a unit's metadata must not set on the HTTP response. */
const RESERVED_RESPONSE = new Set(["content-type", "content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive", "date", "server", "trailer", "te", "upgrade"]);

/** A unit's response metadata as HTTP response headers (gRPC's own and reserved names left out), `prefix` for trailers. */
export function metadataHeaders(m: CallMetadata, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in m) {
    if (k.startsWith("grpc-") || k.startsWith("hsu-") || RESERVED_RESPONSE.has(k) || k.startsWith(":")) continue;
    out[prefix + k] = m[k]!;
  }
  return out;
}

type Codec = "json" | "proto";

function codecOf(contentType: string, streaming: boolean): Codec | undefined {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  if (streaming) return type === "application/connect+json" ? "json" : type === "application/connect+proto" ? "proto" : undefined;
  return type === "application/json" ? "json" : type === "application/proto" ? "proto" : undefined;
}

/** Decodes a request message (JSON or binary) into binary protobuf; a bad message is INVALID_ARGUMENT naming what was wrong. */
export function decodeRequest(schema: DescMessage, body: Uint8Array, codec: Codec, registry: Registry): Uint8Array {
  try {
    if (codec === "proto") return toBinary(schema, fromBinary(schema, body));
    // A view, not a copy (the body is usually a Buffer already).
    const text = (Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)).toString("utf8").trim();
    return toBinary(schema, fromJsonString(schema, text === "" ? "{}" : text, { registry }));
  } catch (e) {
    throw new GatewayError(3, `the request is not a valid ${schema.typeName} (${codec === "json" ? "proto3 JSON" : "binary protobuf"}): ${(e as Error).message}`);
  }
}

/** A unit's binary answer as proto3 JSON. */
export function encodeJson(schema: DescMessage, bytes: Uint8Array, registry: Registry): unknown {
  return toJson(schema, fromBinary(schema, bytes), { registry });
}

/** The Connect error body: `{code, message}`. */
export function connectErrorBody(e: CallError): { code: string; message: string } {
  return { code: codeName(e.code), message: e.message };
}

function writeError(res: GatewayResponse, e: CallError, headers: Record<string, string> = {}, httpStatus?: number): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const body = JSON.stringify(connectErrorBody(e));
  writeHead(res, httpStatus ?? ((e instanceof GatewayError && e.httpStatus) || httpStatusOf(e.code)), {
    ...headers,
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
  });
  res.end(body);
}

/** The path and query of a request URL (the query is parsed only when asked for: a POST never needs it). */
function splitUrl(url: string): { path: string; query: () => URLSearchParams } {
  const q = url.indexOf("?");
  let parsed: URLSearchParams | undefined;
  const query = () => (parsed ??= new URLSearchParams(q < 0 ? "" : url.slice(q + 1)));
  return { path: q < 0 ? url : url.slice(0, q), query };
}

/** One Connect envelope: flags, 4-byte length, data. */
function connectEnvelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + data.length);
  out[0] = flags;
  out.writeUInt32BE(data.length, 1);
  out.set(data, 5);
  return out;
}

/**
 * The Connect protocol (connectrpc.com/docs/protocol) for every routed RPC:
 * `POST {prefix}/pkg.Service/Method`. Unary with application/json (proto3
 * JSON) or application/proto, and GET with `?message=&encoding=` for unary;
 * server streaming with application/connect+json or +proto envelopes, or -
 * for curl and EventSource - with `Accept: application/x-ndjson` or
 * `text/event-stream` (a plain JSON request body, or GET `?message=`).
 */
export function connectProtocol(): Protocol {
  let lookup: ((path: string) => MethodLookup) | undefined;
  let tableOf: readonly RoutedService[] | undefined;
  return {
    name: "connect",
    async handle(req, res, ctx) {
      if (tableOf !== ctx.services) (lookup = createMethodTable(ctx.services)), (tableOf = ctx.services);
      const { path, query } = splitUrl(req.url ?? "/");
      const hit = lookup!(path);
      if (hit.kind === "none") return false;
      const contentType = String(req.headers["content-type"] ?? "");
      if (contentType.startsWith("application/grpc")) return false; // gRPC-Web (and gRPC) are the next protocols'.
      if (hit.kind === "no-method") {
        writeError(res, { code: 12, message: `${hit.route.service.typeName} has no method "${hit.name}"; it has: ${hit.route.service.methods.map((m) => m.name).join(", ")}` }, {}, 404);
        return true;
      }
      await serve(req, res, ctx, hit.found, contentType, query);
      return true;
    },
  };
}

async function serve(req: GatewayRequest, res: GatewayResponse, ctx: ProtocolContext, { route, method }: RoutedMethod, contentType: string, queryOf: () => URLSearchParams): Promise<void> {
  const signal = ctx.signal ?? new AbortController().signal;
  const read = () => (ctx.readBody ? ctx.readBody(req) : readBody(req, ctx.maxBodyBytes, signal));
  const streaming = method.methodKind === "server_streaming";
  if (method.methodKind !== "unary" && !streaming) {
    return writeError(res, { code: 12, message: `${method.parent.typeName}/${method.name} is ${method.methodKind.replace("_", " ")}: the gateway serves unary and server-streaming methods only` }, {}, 501);
  }
  const version = req.headers["connect-protocol-version"];
  if (version !== undefined && version !== "1") return writeError(res, { code: 3, message: `connect-protocol-version ${String(version)} is not supported; send 1` });
  if (route.auth === "required" && !req.headers.authorization) {
    return writeError(res, { code: 16, message: `${method.parent.typeName} needs credentials: send Authorization: Bearer <token>` });
  }
  const method_ = req.method ?? "GET";
  const stream = streaming ? streamFormatOf(String(req.headers.accept ?? "")) : undefined;
  try {
    if (method_ !== "POST" && method_ !== "GET") return writeError(res, { code: 12, message: `use POST (or GET) for ${method.parent.typeName}/${method.name}, not ${method_}` }, { allow: "GET, POST" }, 405);
    let request: Uint8Array;
    let codec: Codec;
    let enveloped = false;
    if (method_ === "GET") {
      const query = queryOf();
      if (streaming && !stream) return writeError(res, { code: 3, message: "GET of a server-streaming method needs Accept: application/x-ndjson or text/event-stream" }, {}, 405);
      codec = (query.get("encoding") ?? "json") === "proto" ? "proto" : "json";
      if (!["json", "proto"].includes(query.get("encoding") ?? "json")) return writeError(res, { code: 3, message: `encoding=${query.get("encoding")}: expected json or proto` });
      const raw = query.get("message") ?? "";
      const bytes = query.get("base64") === "1" ? Buffer.from(raw, "base64url") : Buffer.from(raw, "utf8");
      request = decodeRequest(method.input, bytes, codec, ctx.registry);
    } else {
      const c = stream ? (codecOf(contentType, false) ?? (contentType === "" ? "json" : undefined)) : codecOf(contentType, streaming);
      if (c === undefined) {
        const want = streaming ? "application/connect+json or application/connect+proto (or Accept: application/x-ndjson / text/event-stream with application/json)" : "application/json or application/proto";
        return writeError(res, { code: 3, message: `content-type ${JSON.stringify(contentType)} is not one the Connect protocol takes here: send ${want}` }, {}, 415);
      }
      codec = c;
      enveloped = streaming && !stream;
      let body = await read();
      if (enveloped) {
        const b = Buffer.from(body);
        if (b.length < 5) throw new GatewayError(3, "a streaming request must be one enveloped message (5-byte prefix, then the message)");
        if ((b[0]! & 1) === 1) throw new GatewayError(12, "compressed messages are not supported (send connect-content-encoding: identity)");
        const len = b.readUInt32BE(1);
        if (b.length !== 5 + len) throw new GatewayError(3, `a streaming request must be exactly one enveloped message: got ${b.length} bytes for a message of ${len}`);
        body = b.subarray(5);
      }
      request = decodeRequest(method.input, body, codec, ctx.registry);
    }
    const call = ctx.callContext(req, signal);
    if (!streaming) {
      const r = await ctx.upstream.unary(route.unit, method, request, call);
      if (!r.ok) return writeError(res, r.error, metadataHeaders(r.headers));
      // JSON stays a string: node:http writes it with the headers in one piece.
      const out = codec === "json" ? JSON.stringify(encodeJson(method.output, r.message, ctx.registry)) : r.message;
      writeHead(res, 200, {
        ...metadataHeaders(r.headers),
        ...metadataHeaders(r.trailers, "trailer-"),
        "content-type": codec === "json" ? "application/json" : "application/proto",
        "content-length": String(typeof out === "string" ? Buffer.byteLength(out) : out.byteLength),
      });
      res.end(out);
      return;
    }
    if (stream) {
      const w = createJsonStreamWriter(res, stream);
      const r = await ctx.upstream.serverStream(route.unit, method, request, call, (m) => {
        return w.message(encodeJson(method.output, m, ctx.registry));
      });
      if (!r.ok) {
        if (!res.headersSent) return writeError(res, r.error, metadataHeaders(r.headers));
        return w.fail(connectErrorBody(r.error));
      }
      return w.end();
    }
    // application/connect+json|proto: enveloped messages, then the end-of-stream message.
    let begun = false;
    const begin = (headers: CallMetadata) => {
      if (begun) return;
      begun = true;
      writeHead(res, 200, { ...metadataHeaders(headers), "content-type": `application/connect+${codec}` });
    };
    let upstreamHeaders: CallMetadata = {};
    const r = await ctx.upstream.serverStream(route.unit, method, request, call, (m) => {
      begin(upstreamHeaders);
      const data = codec === "json" ? Buffer.from(JSON.stringify(encodeJson(method.output, m, ctx.registry))) : m;
      return writeChunk(res, connectEnvelope(0, data));
    });
    upstreamHeaders = r.headers;
    begin(r.headers);
    const metadata = Object.fromEntries(Object.entries(metadataHeaders(r.trailers)).map(([k, v]) => [k, [v]]));
    const end = r.ok ? { metadata } : { error: connectErrorBody(r.error), metadata };
    if (!res.writableEnded) res.end(connectEnvelope(2, Buffer.from(JSON.stringify(end))));
  } catch (e) {
    writeError(res, GatewayError.from(e));
  }
}
