import type { HttpCheck } from "../spec.ts";
import { abortReason, errorText, type Probe, type ProbeResult } from "./types.ts";

/** Body bytes read at most when looking for `bodyContains`. */
const maxBodyBytes = 1024 * 1024;

/**
 * Sends one HTTP request with global fetch and checks the status (default
 * 200-399) and optionally that the body contains some text. Redirects are
 * not followed, so a 3xx counts as the answer (as in Kubernetes probes).
 */
export function createHttpProbe(spec: HttpCheck): Probe {
  const [min, max] = typeof spec.expectStatus === "number" ? [spec.expectStatus, spec.expectStatus] : (spec.expectStatus ?? [200, 399]);
  return {
    async run(signal): Promise<ProbeResult> {
      let res: Response;
      try {
        res = await fetch(spec.url, { method: spec.method ?? "GET", headers: spec.headers, redirect: "manual", signal });
      } catch (err) {
        return { ok: false, detail: `${spec.method ?? "GET"} ${spec.url} failed: ${signal.aborted ? abortReason(signal) : errorText(err)}` };
      }
      const statusOk = res.status >= min && res.status <= max;
      if (!statusOk || spec.bodyContains === undefined) {
        await res.body?.cancel().catch(() => undefined); // only frees the connection; the status decides
        const want = min === max ? `${min}` : `${min}-${max}`;
        return statusOk ? { ok: true, detail: `HTTP ${res.status}` } : { ok: false, detail: `HTTP ${res.status}, expected ${want}` };
      }
      try {
        const body = await readBody(res);
        return body.includes(spec.bodyContains)
          ? { ok: true, detail: `HTTP ${res.status}, body contains ${JSON.stringify(spec.bodyContains)}` }
          : { ok: false, detail: `HTTP ${res.status}, but the body does not contain ${JSON.stringify(spec.bodyContains)}` };
      } catch (err) {
        return { ok: false, detail: `reading the body of ${spec.url} failed: ${signal.aborted ? abortReason(signal) : errorText(err)}` };
      }
    },
    close() {},
  };
}

async function readBody(res: Response): Promise<string> {
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  while (size < maxBodyBytes) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).toString("utf8");
}
