import type { GatewayRequest } from "./protocol.ts";
import { GatewayError } from "./status.ts";

/**
 * Reads a request body of at most `max` bytes. A body announced (content-length)
 * or grown past the limit fails at once with RESOURCE_EXHAUSTED / HTTP 413,
 * and reading stops there (the rest is never buffered); `signal` (the request
 * deadline) ends a body that arrives too slowly.
 */
export function readBody(req: GatewayRequest, max: number, signal: AbortSignal): Promise<Buffer> {
  const tooLarge = (n: string) => new GatewayError(8, `the request body is ${n} bytes; the gateway takes at most ${max} (gateway.limits.max_body)`, 413);
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > max) return Promise.reject(tooLarge(String(declared)));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
      signal.removeEventListener("abort", onAbort);
    };
    const fail = (e: Error) => {
      cleanup();
      req.pause();
      reject(e);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) return fail(tooLarge(`more than ${max}`));
      chunks.push(c);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => fail(new GatewayError(1, `the request body could not be read: ${e.message}`));
    const onAborted = () => fail(new GatewayError(1, "the client went away before sending the whole body"));
    const onAbort = () => fail(new GatewayError(4, "the request body did not arrive within the request timeout (gateway.limits.timeout)", 408));
    if (signal.aborted) return onAbort();
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    req.once("aborted", onAborted);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
