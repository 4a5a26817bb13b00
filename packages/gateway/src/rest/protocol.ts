import type { Registry } from "@bufbuild/protobuf";
import type { CallError, CallMetadata, StreamResult, GatewayRequest, GatewayResponse, Protocol, ProtocolContext, RoutedService } from "../protocol.ts";
import { GrpcCode, RestError } from "./errors.ts";
import { buildRoutes, createRouter, type RouteMatch, type RouteTable } from "./routes.ts";
import { createJsonStreamWriter, streamFormatOf } from "../stream-writers.ts";
import { encodeRequest, responseJson } from "./transcode.ts";

/** What the protocol needs of a response, common to HTTP/1.1 and HTTP/2 (node's two types do not unify). */
interface Out {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: string): boolean;
  end(chunk?: string | Uint8Array): unknown;
  on(event: "close", listener: () => void): unknown;
  off(event: "close", listener: () => void): unknown;
}

const out = (res: GatewayResponse): Out => res as unknown as Out;

/** Options of {@link restProtocol}. */
export interface RestProtocolOptions {
  /**
   * The routes, built at startup with {@link buildRoutes} so a bad annotation
   * stops the gateway before it listens. Default: built from `ctx.services`
   * on the first request.
   */
  readonly table?: RouteTable;
  /** "answer": a 404 JSON error for paths no route has; "pass" (default): leave them to the next protocol. */
  readonly notFound?: "pass" | "answer";
}

/**
 * The REST protocol: requests on google.api.http routes are transcoded to
 * protobuf, called on the unit through `ctx.upstream`, and answered as proto3
 * JSON (server streams as NDJSON, or SSE with `Accept: text/event-stream`);
 * errors as google.rpc.Status JSON with grpc-gateway's HTTP statuses.
 */
export function restProtocol(options: RestProtocolOptions = {}): Protocol {
  const routers = new WeakMap<readonly RoutedService[], ReturnType<typeof createRouter>>();
  const fixed = options.table === undefined ? undefined : createRouter(options.table.routes);
  const routerOf = (services: readonly RoutedService[]): ReturnType<typeof createRouter> => {
    if (fixed !== undefined) return fixed;
    let r = routers.get(services);
    if (r === undefined) {
      r = createRouter(buildRoutes(services).routes);
      routers.set(services, r);
    }
    return r;
  };
  return {
    name: "rest",
    async handle(req, res, ctx) {
      // An absolute-form target (`GET http://host/path`, from proxies) is matched by its path.
      const raw = req.url ?? "/";
      const url = raw.startsWith("/") ? raw : raw.replace(/^https?:\/\/[^/?#]*/i, "") || "/";
      const q = url.indexOf("?");
      const path = q < 0 ? url : url.slice(0, q);
      const query = q < 0 ? "" : url.slice(q + 1);
      let match: RouteMatch | undefined;
      try {
        match = routerOf(ctx.services)(req.method ?? "GET", path);
      } catch (e) {
        writeError(res, RestError.from(e));
        return true;
      }
      if (match === undefined) {
        if (options.notFound !== "answer") return false;
        writeError(res, new RestError(GrpcCode.NOT_FOUND, `no REST route has the path ${path}`));
        return true;
      }
      try {
        await serve(req, res, ctx, match, query);
      } catch (e) {
        if (!res.headersSent) writeError(res, RestError.from(e));
        else out(res).end();
      }
      return true;
    },
  };
}

async function serve(req: GatewayRequest, response: GatewayResponse, ctx: ProtocolContext, match: RouteMatch, query: string): Promise<void> {
  const { route } = match;
  const res = out(response);
  const authorization = header(req, "authorization");
  if (route.auth === "required" && (authorization === undefined || authorization.trim() === "")) {
    throw new RestError(GrpcCode.UNAUTHENTICATED, `${route.verb} ${route.template.source} needs credentials: send an Authorization header (Bearer <token>)`, 401, {
      "www-authenticate": 'Bearer realm="hsu"',
    });
  }
  const body = await readBody(req, ctx.maxBodyBytes);
  const request = encodeRequest(route, { params: match.params, query, body, contentType: header(req, "content-type") }, ctx.registry);
  const abort = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) abort.abort(new Error("the client went away"));
  };
  res.on("close", onClose);
  try {
    const call = ctx.callContext(req, abort.signal);
    if (!route.streaming) {
      const result = await ctx.upstream.unary(route.unit, route.method, request, call);
      if (!result.ok) throw upstreamError(result.error, ctx.registry);
      const json = responseJson(route, result.message, ctx.registry);
      const text = JSON.stringify(json);
      // With a length, HTTP/1.1 sends the answer in one piece instead of chunked; a string body goes out in the
      // same write as the headers (node:http joins them), a Buffer in a second one.
      res.writeHead(200, { "content-type": "application/json", ...metadataHeaders(result.headers), "content-length": String(Buffer.byteLength(text)) });
      res.end(text);
      return;
    }
    const writer = createJsonStreamWriter(response, streamFormatOf(header(req, "accept")) ?? "ndjson", "grpc-gateway");
    let started = false;
    const start = (headers: CallMetadata): void => {
      if (started) return;
      started = true;
      writer.begin(metadataHeaders(headers));
    };
    let result: StreamResult;
    try {
      result = await ctx.upstream.serverStream(route.unit, route.method, request, call, async (message) => {
        const json = responseJson(route, message, ctx.registry);
        start({});
        await writer.message(json);
      });
    } catch (e) {
      if (!started) throw e;
      // Headers are out: the failure can only be the stream's last entry.
      writer.fail(RestError.from(e).toStatusJson());
      return;
    }
    if (!result.ok && !started) throw upstreamError(result.error, ctx.registry);
    start(result.headers);
    if (!result.ok) writer.fail(upstreamError(result.error, ctx.registry).toStatusJson());
    else writer.end();
  } finally {
    res.off("close", onClose);
  }
}

function upstreamError(error: CallError, registry: Registry): RestError {
  const e = RestError.fromCall(error, registry);
  if (e.code !== GrpcCode.UNAUTHENTICATED) return e;
  return new RestError(e.code, e.message, e.status, { "www-authenticate": 'Bearer realm="hsu", error="invalid_token"' }, e.details);
}

/** Writes a RestError as google.rpc.Status JSON. */
export function writeError(response: GatewayResponse, e: RestError): void {
  const res = out(response);
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(e.status, { "content-type": "application/json", ...e.headers });
  res.end(JSON.stringify(e.toStatusJson()));
}

function header(req: GatewayRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

/** Unit response metadata as `Grpc-Metadata-<name>` headers (grpc-gateway's convention); binary and reserved ones stay out. */
function metadataHeaders(meta: CallMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in meta) {
    const v = meta[k]!;
    if (k.endsWith("-bin") || k.startsWith("grpc-") || k.startsWith("hsu-") || k.startsWith(":") || k === "content-type") continue;
    if (!/^[a-z0-9-_.]+$/.test(k) || /[\r\n\0]/.test(v)) continue;
    out[`grpc-metadata-${k}`] = v;
  }
  return out;
}

/**
 * Reads the request body, at most `max` bytes: a Content-Length above it is
 * refused before reading, a body that grows past it while read is cut off (413).
 */
export async function readBody(req: GatewayRequest, max: number): Promise<Uint8Array> {
  const declared = header(req, "content-length");
  if (declared !== undefined && Number(declared) > max) {
    throw RestError.http(413, GrpcCode.RESOURCE_EXHAUSTED, `the request body (${declared} bytes) is larger than the limit of ${max} bytes`);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        cleanup();
        // Stop reading but keep the socket, so the 413 still reaches the client.
        req.pause();
        reject(RestError.http(413, GrpcCode.RESOURCE_EXHAUSTED, `the request body is larger than the limit of ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new RestError(GrpcCode.CANCELLED, `reading the request body failed: ${e.message}`, 400));
    };
    const onAborted = (): void => onError(new Error("the client went away"));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}