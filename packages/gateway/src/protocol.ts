import type { DescMethod, DescService, Registry } from "@bufbuild/protobuf";
import type * as http from "node:http";
import type * as http2 from "node:http2";

/**
 * The seams inside the gateway. The server (server.ts) owns the listener,
 * TLS, CORS, limits and rate limits; each protocol (Connect, gRPC-Web, REST)
 * turns an HTTP request into calls on an {@link Upstream} and writes the answer.
 */

/** An HTTP/1.1 or HTTP/2 request/response pair as node gives them (compat API). */
export type GatewayRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type GatewayResponse = http.ServerResponse | http2.Http2ServerResponse;

/** The outcome of a call that failed, in gRPC terms (code 1-16), as the master or unit answered it. */
export interface CallError {
  readonly code: number;
  readonly message: string;
  /** grpc-status-details-bin, undecoded, if any. */
  readonly details?: Uint8Array;
}

/** Headers to pass to the unit as gRPC metadata (lower-case names; already filtered of hop-by-hop and credentials). */
export type CallMetadata = Record<string, string>;

/** One call to an integrated unit through the master. Messages are binary protobuf (no gRPC framing). */
export interface Upstream {
  unary(unit: string, method: DescMethod, request: Uint8Array, meta: CallContext): Promise<UnaryResult>;
  /** Server streaming: `onMessage` for each message; resolves at the end of the stream (or with its error). */
  serverStream(
    unit: string,
    method: DescMethod,
    request: Uint8Array,
    meta: CallContext,
    onMessage: (message: Uint8Array) => void | Promise<void>,
  ): Promise<StreamResult>;
}

export interface CallContext {
  readonly metadata: CallMetadata;
  /** The caller's `authorization` header as sent to the gateway (forwarded to the master only, never to the unit). */
  readonly authorization?: string;
  /** The caller's address (for the audit log). */
  readonly clientAddress: string;
  /** Ends the call (client gone, gateway timeout). */
  readonly signal: AbortSignal;
  /** Deadline in ms from now, passed as grpc-timeout. */
  readonly timeoutMs: number;
}

export type UnaryResult =
  | { readonly ok: true; readonly message: Uint8Array; readonly headers: CallMetadata; readonly trailers: CallMetadata }
  | { readonly ok: false; readonly error: CallError; readonly headers: CallMetadata; readonly trailers: CallMetadata };

export type StreamResult =
  | { readonly ok: true; readonly headers: CallMetadata; readonly trailers: CallMetadata }
  | { readonly ok: false; readonly error: CallError; readonly headers: CallMetadata; readonly trailers: CallMetadata };

/** A service a route exposes, with the unit that serves it and the route's settings. */
export interface RoutedService {
  readonly unit: string;
  readonly service: DescService;
  /** Mount prefix ("" or "/echo"), no trailing slash. */
  readonly prefix: string;
  /** "required": calls without credentials are refused by the gateway (401) before reaching the master. */
  readonly auth: "required" | "none";
}

/** Everything a protocol handler needs. */
export interface ProtocolContext {
  readonly upstream: Upstream;
  readonly registry: Registry;
  readonly services: readonly RoutedService[];
  /** Builds the CallContext of a request (metadata filtered, deadline from the route's timeout). */
  callContext(req: GatewayRequest, signal: AbortSignal): CallContext;
  /** Largest request body in bytes. */
  readonly maxBodyBytes: number;
  /**
   * The request's own signal: aborted when the client goes away or the
   * request timeout (limits.timeout) passes. Set by the server for each request.
   */
  readonly signal?: AbortSignal;
  /**
   * Reads the request body within maxBodyBytes and the request deadline; rejects with a
   * GatewayError (status.ts) whose httpStatus is 413 or 408. Set by the server for each request.
   */
  readBody?(req: GatewayRequest): Promise<Uint8Array>;
}

/** A protocol: answers a request it recognises (true), or leaves it to the next one (false). */
export interface Protocol {
  readonly name: string;
  handle(req: GatewayRequest, res: GatewayResponse, ctx: ProtocolContext): Promise<boolean>;
}
