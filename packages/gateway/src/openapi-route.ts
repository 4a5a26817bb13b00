import type { Protocol } from "./protocol.ts";
import { sendJson } from "./respond.ts";

/**
 * Serves the OpenAPI document of the REST routes at `path` (GET and HEAD).
 * The document is built once, on the first request, from the same route
 * table REST serves, so it lists exactly what the gateway answers.
 */
export function openApiProtocol(path: string, build: () => Record<string, unknown>): Protocol {
  let doc: Record<string, unknown> | undefined;
  return {
    name: "openapi",
    async handle(req, res) {
      const url = req.url ?? "";
      const q = url.indexOf("?");
      if ((q < 0 ? url : url.slice(0, q)) !== path) return false;
      if (req.method !== "GET" && req.method !== "HEAD") {
        sendJson(res, 405, { code: 12, message: `${path} answers GET only`, details: [] }, { allow: "GET, HEAD" });
        return true;
      }
      doc ??= build();
      sendJson(res, 200, doc);
      return true;
    },
  };
}
