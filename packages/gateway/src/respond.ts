import type { GatewayResponse } from "./protocol.ts";

/** Sends the status line and headers on an HTTP/1.1 or HTTP/2 response alike. */
export function writeHead(res: GatewayResponse, status: number, headers: Record<string, string> = {}): void {
  (res as { writeHead(s: number, h: Record<string, string>): unknown }).writeHead(status, headers);
}

/** Answers with a JSON body (or just ends a response whose headers went already). */
export function sendJson(res: GatewayResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const text = JSON.stringify(body);
  writeHead(res, status, { ...headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
  res.end(text);
}
