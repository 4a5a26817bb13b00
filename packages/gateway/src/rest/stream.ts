import type { JsonValue } from "@bufbuild/protobuf";
import type { GatewayResponse } from "../protocol.ts";
import type { StatusJson } from "./errors.ts";

/**
 * Writers for server-streaming answers: newline-delimited JSON (each line
 * `{"result": message}` or, last, `{"error": status}`, as grpc-gateway writes
 * them) and Server-Sent Events (`event: message` per message, `event: error`
 * with the status if the stream fails).
 */
export interface StreamWriter {
  readonly contentType: string;
  message(json: JsonValue): string;
  error(status: StatusJson): string;
}

/** NDJSON (application/x-ndjson). */
export const ndjsonWriter: StreamWriter = {
  contentType: "application/x-ndjson",
  message: (json) => `${JSON.stringify({ result: json })}\n`,
  error: (status) => `${JSON.stringify({ error: status })}\n`,
};

/** Server-Sent Events (text/event-stream). JSON has no raw newlines, so each event is one `data:` line. */
export const sseWriter: StreamWriter = {
  contentType: "text/event-stream",
  message: (json) => `event: message\ndata: ${JSON.stringify(json)}\n\n`,
  error: (status) => `event: error\ndata: ${JSON.stringify(status)}\n\n`,
};

/** The writer a request asks for: SSE when its Accept header names text/event-stream, else NDJSON. */
export function writerFor(accept: string | undefined): StreamWriter {
  return accept !== undefined && /(?:^|,)\s*text\/event-stream\b/i.test(accept) ? sseWriter : ndjsonWriter;
}

/** Writes a chunk and waits for the socket to drain if it asked to (backpressure from slow clients). */
export async function writeChunk(res: GatewayResponse, chunk: string, signal: AbortSignal): Promise<void> {
  const r = res as unknown as { write(c: string): boolean; on(e: string, f: () => void): unknown; off(e: string, f: () => void): unknown };
  if (r.write(chunk)) return;
  if (signal.aborted) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      r.off("drain", done);
      r.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    r.on("drain", done);
    r.on("close", done);
    signal.addEventListener("abort", done);
  });
}
