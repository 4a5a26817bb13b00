import { writeHead } from "./respond.ts";
import type { GatewayResponse } from "./protocol.ts";

/**
 * Server streaming for clients that are not gRPC: newline-delimited JSON
 * (`Accept: application/x-ndjson`, one message per line, for curl and fetch)
 * and Server-Sent Events (`Accept: text/event-stream`, for EventSource).
 * Shared by the Connect and REST protocols.
 */
export type StreamFormat = "ndjson" | "sse";

/** The streaming format an Accept header asks for, if any (the first one named wins). */
export function streamFormatOf(accept: string | undefined): StreamFormat | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(",")) {
    const type = part.split(";")[0]!.trim().toLowerCase();
    if (type === "application/x-ndjson" || type === "application/jsonl" || type === "application/json-seq") return "ndjson";
    if (type === "text/event-stream") return "sse";
  }
  return undefined;
}

/** The content type a format is sent with. */
export const streamContentType: Record<StreamFormat, string> = {
  ndjson: "application/x-ndjson",
  sse: "text/event-stream; charset=utf-8",
};

/** An error as the streaming formats carry it: the Connect code name and a message. */
export interface StreamErrorBody {
  readonly code: string;
  readonly message: string;
}

/** Writes `chunk`, resolving once the client has taken it (back-pressure); rejects when the client is gone. */
export function writeChunk(res: GatewayResponse, chunk: string | Uint8Array): Promise<void> {
  if (res.destroyed || res.writableEnded) return Promise.reject(new Error("the client closed the response"));
  // The compat types of http and http2 differ only in overloads.
  if ((res as { write(c: string | Uint8Array): boolean }).write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      res.off("drain", ok);
      res.off("close", gone);
      if (err) reject(err);
      else resolve();
    };
    const ok = () => done();
    const gone = () => done(new Error("the client closed the response"));
    res.once("drain", ok);
    res.once("close", gone);
  });
}

/** One NDJSON line: the message as JSON and a newline. */
export function ndjsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** One SSE event: `data: <json>` (and `event: <name>` when given), then a blank line. */
export function sseEvent(value: unknown, event?: string): string {
  // JSON.stringify never emits a raw newline, so one data line always holds the message.
  return `${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(value)}\n\n`;
}

/** Writes one message as an NDJSON line (see {@link writeChunk} for back-pressure). */
export function writeNdjson(res: GatewayResponse, value: unknown): Promise<void> {
  return writeChunk(res, ndjsonLine(value));
}

/** Writes one message as an SSE `data:` event. */
export function writeSse(res: GatewayResponse, value: unknown): Promise<void> {
  return writeChunk(res, sseEvent(value));
}

/**
 * How a protocol frames the messages of a JSON stream: Connect's own (each
 * NDJSON line the message, SSE `data:` events) or grpc-gateway's, which the
 * REST protocol follows (NDJSON lines `{"result": message}`, SSE
 * `event: message`).
 */
export type StreamDialect = "connect" | "grpc-gateway";

/** A stream of JSON messages in one format: begin, messages, then an error or the end. */
export interface JsonStreamWriter {
  /** Sends the status line and headers (at the first message, or at the end). */
  begin(headers?: Record<string, string>): void;
  message(value: unknown): Promise<void>;
  /** Ends the stream with an error: NDJSON `{"error": body}` as the last line, SSE an `event: error` with the body. */
  fail(error: object): void;
  end(): void;
}

/** A {@link JsonStreamWriter} on `res`: the one writer of NDJSON and SSE streams, for the Connect and REST protocols. */
export function createJsonStreamWriter(res: GatewayResponse, format: StreamFormat, dialect: StreamDialect = "connect"): JsonStreamWriter {
  let begun = false;
  const gg = dialect === "grpc-gateway";
  const w = {
    begin(headers: Record<string, string> = {}) {
      if (begun) return;
      begun = true;
      const contentType = gg && format === "sse" ? "text/event-stream" : streamContentType[format];
      const h: Record<string, string> = { ...headers, "content-type": contentType, "cache-control": "no-store", "x-content-type-options": "nosniff" };
      // Proxies (nginx) must not buffer a stream of events.
      if (format === "sse") h["x-accel-buffering"] = "no";
      writeHead(res, 200, h);
      (res as { flushHeaders?: () => void }).flushHeaders?.();
    },
    message(value: unknown) {
      w.begin();
      if (format === "ndjson") return writeNdjson(res, gg ? { result: value } : value);
      return writeChunk(res, sseEvent(value, gg ? "message" : undefined));
    },
    fail(error: object) {
      w.begin();
      if (res.destroyed || res.writableEnded) return;
      res.end(format === "ndjson" ? ndjsonLine({ error }) : sseEvent(error, "error"));
    },
    end() {
      w.begin();
      if (!res.writableEnded) res.end();
    },
  };
  return w;
}
