import { writeHead } from "./respond.ts";
import type { CallError, CallMetadata, GatewayResponse, Protocol } from "./protocol.ts";
import { createMethodTable, metadataHeaders, type MethodLookup } from "./connect.ts";
import { readBody } from "./body.ts";
import { GatewayError } from "./status.ts";
import { writeChunk } from "./stream-writers.ts";
import type { RoutedService } from "./protocol.ts";

/** A gRPC-Web frame: flags (0x80 = trailers), 4-byte length, data. */
function frame(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + data.length);
  out[0] = flags;
  out.writeUInt32BE(data.length, 1);
  out.set(data, 5);
  return out;
}

/** The trailer frame's body: HTTP/1-style header lines. */
function trailerBlock(error: CallError | undefined, trailers: CallMetadata): Buffer {
  const lines = [`grpc-status: ${error ? error.code : 0}`];
  if (error?.message) lines.push(`grpc-message: ${encodeURIComponent(error.message)}`);
  for (const [k, v] of Object.entries(metadataHeaders(trailers))) lines.push(`${k}: ${v}`);
  return Buffer.from(lines.map((l) => `${l}\r\n`).join(""));
}

/**
 * gRPC-Web (github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md) for every
 * routed unary and server-streaming RPC: application/grpc-web(+proto) and
 * the base64 application/grpc-web-text(+proto); the status and trailers go in
 * the last frame (flag 0x80), so browsers read them without HTTP trailers.
 */
export function grpcWebProtocol(): Protocol {
  let lookup: ((path: string) => MethodLookup) | undefined;
  let tableOf: readonly RoutedService[] | undefined;
  return {
    name: "grpc-web",
    async handle(req, res, ctx) {
      const type = String(req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
      if (!type.startsWith("application/grpc-web")) return false;
      if (tableOf !== ctx.services) (lookup = createMethodTable(ctx.services)), (tableOf = ctx.services);
      const hit = lookup!((req.url ?? "/").split("?")[0]!);
      if (hit.kind === "none") return false;
      const text = type.startsWith("application/grpc-web-text");
      if (type !== "application/grpc-web" && type !== "application/grpc-web+proto" && type !== "application/grpc-web-text" && type !== "application/grpc-web-text+proto") {
        end(res, type, text, { code: 12, message: `content-type ${type} is not supported: send application/grpc-web+proto (JSON over gRPC-Web is not)` }, {}, {});
        return true;
      }
      if (hit.kind === "no-method") {
        end(res, type, text, { code: 12, message: `${hit.route.service.typeName} has no method "${hit.name}"` }, {}, {});
        return true;
      }
      const { route, method } = hit.found;
      const signal = ctx.signal ?? new AbortController().signal;
      try {
        if (req.method !== "POST") throw new GatewayError(12, `gRPC-Web calls are POST, not ${req.method}`);
        if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") throw new GatewayError(12, `${method.name} is ${method.methodKind.replace("_", " ")}: the gateway serves unary and server-streaming methods only`);
        if (route.auth === "required" && !req.headers.authorization) throw new GatewayError(16, `${method.parent.typeName} needs credentials: send Authorization: Bearer <token>`);
        let body = Buffer.from(await (ctx.readBody ? ctx.readBody(req) : readBody(req, ctx.maxBodyBytes, signal)));
        if (text) body = Buffer.from(body.toString("ascii"), "base64");
        if (body.length < 5) throw new GatewayError(13, "the request must be one gRPC-Web message frame (5-byte prefix, then the message)");
        if ((body[0]! & 1) === 1) throw new GatewayError(12, "compressed messages are not supported");
        const len = body.readUInt32BE(1);
        if (body.length !== 5 + len) throw new GatewayError(13, `the request must be exactly one message frame: got ${body.length} bytes for a message of ${len}`);
        const request = body.subarray(5);
        const call = ctx.callContext(req, signal);
        let begun = false;
        const begin = (h: CallMetadata) => {
          if (begun) return;
          begun = true;
          writeHead(res, 200, { ...metadataHeaders(h), "content-type": type });
        };
        // Text mode: one base64 text for the whole response (3-byte groups; padding only at the very end).
        const b64 = base64Stream();
        const send = (b: Buffer) => writeChunk(res, text ? b64.push(b) : b);
        const last = (b: Buffer) => (text ? b64.end(b) : b);
        if (method.methodKind === "unary") {
          const r = await ctx.upstream.unary(route.unit, method, request, call);
          begin(r.headers);
          if (r.ok) await send(frame(0, r.message));
          if (!res.writableEnded) res.end(last(frame(0x80, trailerBlock(r.ok ? undefined : r.error, r.trailers))));
        } else {
          let headers: CallMetadata = {};
          const r = await ctx.upstream.serverStream(route.unit, method, request, call, (m) => (begin(headers), send(frame(0, m))));
          headers = r.headers;
          begin(r.headers);
          if (!res.writableEnded) res.end(last(frame(0x80, trailerBlock(r.ok ? undefined : r.error, r.trailers))));
        }
      } catch (e) {
        const err = GatewayError.from(e);
        if (err.httpStatus === 413 || err.httpStatus === 408) throw err;
        end(res, type, text, err, {}, {});
      }
      return true;
    },
  };
}

/** Base64 of a byte stream written in pieces, so the pieces join into one valid base64 text. */
function base64Stream(): { push(b: Buffer): string; end(b: Buffer): string } {
  let carry: Buffer = Buffer.alloc(0);
  return {
    push(b) {
      const all = carry.length ? Buffer.concat([carry, b]) : b;
      const cut = all.length - (all.length % 3);
      carry = Buffer.from(all.subarray(cut));
      return all.subarray(0, cut).toString("base64");
    },
    end(b) {
      const all = carry.length ? Buffer.concat([carry, b]) : b;
      carry = Buffer.alloc(0);
      return all.toString("base64");
    },
  };
}

function enc(b: Buffer, text: boolean): Buffer | string {
  return text ? b.toString("base64") : b;
}

/** Answers with no message: the status in the headers (trailers-only) and in a trailer frame. */
function end(res: GatewayResponse, type: string, text: boolean, error: CallError, headers: CallMetadata, trailers: CallMetadata): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end(enc(frame(0x80, trailerBlock(error, trailers)), text));
    return;
  }
  writeHead(res, 200, {
    ...metadataHeaders(headers),
    "content-type": type || "application/grpc-web+proto",
    "grpc-status": String(error.code),
    "grpc-message": encodeURIComponent(error.message),
  });
  res.end(enc(frame(0x80, trailerBlock(error, trailers)), text));
}
