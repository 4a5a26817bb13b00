import { connect } from "node:net";
import type { TcpCheck } from "../spec.ts";
import { abortReason, errorText, type Probe, type ProbeResult } from "./types.ts";

/** Opens a TCP (or Unix socket) connection and closes it again; success means something accepts. */
export function createTcpProbe(spec: TcpCheck): Probe {
  const what = spec.path !== undefined ? `unix socket ${spec.path}` : `${spec.host ?? "127.0.0.1"}:${spec.port}`;
  return {
    run(signal) {
      return new Promise<ProbeResult>((resolve) => {
        if (signal.aborted) return resolve({ ok: false, detail: `connect to ${what}: ${abortReason(signal)}` });
        const socket = spec.path !== undefined ? connect({ path: spec.path }) : connect({ host: spec.host ?? "127.0.0.1", port: spec.port as number });
        const done = (result: ProbeResult): void => {
          signal.removeEventListener("abort", onAbort);
          socket.destroy();
          resolve(result);
        };
        const onAbort = (): void => done({ ok: false, detail: `connect to ${what}: ${abortReason(signal)}` });
        signal.addEventListener("abort", onAbort, { once: true });
        socket.once("connect", () => done({ ok: true, detail: `connected to ${what}` }));
        socket.once("error", (err) => done({ ok: false, detail: `connect to ${what} failed: ${errorText(err)}` }));
      });
    },
    close() {},
  };
}
