/// <reference lib="dom" />
// The script of the browser suite's test page (bundled with esbuild by
// browser.slow.test.ts): calls through the gateway the way a web app does,
// and reports plain JSON-able results for page.evaluate.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";

/** A reply as the page saw it: the HTTP status (REST) and the JSON it got, or the error the browser raised. */
export type Seen = { status?: number; body?: unknown; error?: string };

async function catching(f: () => Promise<Seen>): Promise<Seen> {
  try {
    return await f();
  } catch (e) {
    return { error: String(e) };
  }
}

const page = {
  /** REST by fetch: POST {prefix}/v1/echo with a JSON body, GET {prefix}/v1/echo/{message}. */
  async rest(base: string, prefix: string, message: string): Promise<{ post: Seen; get: Seen }> {
    const post = await catching(async () => {
      const r = await fetch(`${base}${prefix}/v1/echo`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ message }) });
      return { status: r.status, body: await r.json() };
    });
    const get = await catching(async () => {
      const r = await fetch(`${base}${prefix}/v1/echo/${encodeURIComponent(message)}`);
      return { status: r.status, body: await r.json() };
    });
    return { post, get };
  },

  /** EchoService.Echo with connect-web: the Connect protocol (JSON and binary) and gRPC-Web. */
  async rpc(base: string, prefix: string, message: string): Promise<Record<string, Seen>> {
    const transports = {
      connectJson: createConnectTransport({ baseUrl: `${base}${prefix}` }),
      connectBinary: createConnectTransport({ baseUrl: `${base}${prefix}`, useBinaryFormat: true }),
      grpcWeb: createGrpcWebTransport({ baseUrl: `${base}${prefix}` }),
    };
    const out: Record<string, Seen> = {};
    for (const [name, transport] of Object.entries(transports)) {
      out[name] = await catching(async () => {
        const r = await createClient(EchoService, transport).echo({ message });
        return { body: { message: r.message, unitId: r.unitId } };
      });
    }
    return out;
  },

  /** The first Server-Sent Event of grpc.health.v1.Health/Watch, opened by an EventSource (GET ?message=). */
  sse(base: string, prefix: string, timeoutMs: number): Promise<Seen> {
    return new Promise((resolve) => {
      const es = new EventSource(`${base}${prefix}/grpc.health.v1.Health/Watch?message=${encodeURIComponent("{}")}`);
      const done = (s: Seen) => (clearTimeout(timer), es.close(), resolve(s));
      const timer = setTimeout(() => done({ error: `no event within ${timeoutMs} ms (readyState ${es.readyState})` }), timeoutMs);
      es.onmessage = (e) => done({ body: JSON.parse(e.data as string) });
      es.onerror = () => done({ error: `EventSource error (readyState ${es.readyState})` });
    });
  },
};

(globalThis as unknown as { hsuPage: typeof page }).hsuPage = page;
export type HsuPage = typeof page;
