import { connect as netConnect, type Socket } from "node:net";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "@hsu/proto";
import type { GrpcCheck } from "../spec.ts";
import { abortReason, errorText, type Probe, type ProbeResult } from "./types.ts";

/** Error codes that show a working gRPC server answered (so its connection is fine). */
const serverAnswers = new Set<Code>([
  Code.NotFound,
  Code.Unimplemented,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.InvalidArgument,
  Code.FailedPrecondition,
  Code.ResourceExhausted,
]);

/** Where a grpc check connects: a Unix socket path, or a TCP host and port. */
export type GrpcEndpoint = { baseUrl: string } & ({ path: string } | { host: string; port: number });

/** Parses a grpc check address (`unix:/p`, `unix:///p`, `host:port`, `tcp://host:port`, `[::1]:port`). */
export function parseGrpcAddress(address: string): GrpcEndpoint {
  if (address.startsWith("unix:")) return { baseUrl: "http://localhost", path: address.replace(/^unix:(\/\/)?/, "") };
  const url = new URL(`http://${address.replace(/^tcp:\/\//, "")}`);
  return { baseUrl: url.origin, host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(url.port || 80) };
}

/**
 * Calls grpc.health.v1.Health/Check over HTTP/2 (h2c) and passes only on
 * SERVING. A listener that accepts TCP but does not speak gRPC fails (with a
 * protocol error or by timing out), which a plain port dial would miss. The
 * HTTP/2 connection is kept between runs and released by `close()`.
 */
export function createGrpcProbe(spec: GrpcCheck): Probe {
  const endpoint = parseGrpcAddress(spec.address);
  const service = spec.service ?? "";
  // We open the sockets ourselves so we can destroy them: aborting the session
  // manager while HTTP/2 is still connecting (a peer that is not gRPC, a hung
  // server) leaves the socket open, and a probe every few seconds would leak them.
  const sockets = new Set<Socket>();
  const createConnection = (): Socket => {
    const socket = "path" in endpoint ? netConnect(endpoint.path) : netConnect({ host: endpoint.host, port: endpoint.port });
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    return socket;
  };
  // connect-node (node:http, https, zlib behind it) loads on the first probe run, not with the master.
  let sessionManager: Http2SessionManager | undefined;
  let client: Promise<Client<typeof Health>> | undefined;
  const connect = () =>
    (client ??= import("@connectrpc/connect-node").then((m) => {
      sessionManager = new m.Http2SessionManager(endpoint.baseUrl, {}, { createConnection });
      return createClient(Health, m.createGrpcTransport({ baseUrl: endpoint.baseUrl, sessionManager }));
    }));
  const dropConnection = (): void => {
    // Reset the sockets before aborting the session: a socket whose HTTP/2 session
    // is destroyed first (or that gets a plain destroy()) can stay open.
    // resetAndDestroy() is TCP-only (it throws ERR_INVALID_HANDLE_TYPE on a Unix socket).
    for (const socket of sockets) "path" in endpoint ? socket.destroy() : socket.resetAndDestroy();
    sockets.clear();
    sessionManager?.abort();
  };
  const what = `grpc health of ${service ? `service "${service}"` : "the server"} at ${spec.address}`;
  return {
    async run(signal): Promise<ProbeResult> {
      try {
        const res = await (await connect()).check({ service }, { signal });
        const name = HealthCheckResponse_ServingStatus[res.status] ?? String(res.status);
        return res.status === HealthCheckResponse_ServingStatus.SERVING
          ? { ok: true, detail: `${what}: SERVING` }
          : { ok: false, detail: `${what}: ${name}` };
      } catch (err) {
        const ce = ConnectError.from(err);
        // A status the server sent keeps the connection; anything else (timeout, refused,
        // not gRPC) makes it suspect, so the next probe starts on a fresh one.
        if (signal.aborted || !serverAnswers.has(ce.code)) dropConnection();
        if (signal.aborted) return { ok: false, detail: `${what}: ${abortReason(signal)}` };
        const hint = ce.code === Code.NotFound ? " (the server does not know this service)" : "";
        return { ok: false, detail: `${what}: ${Code[ce.code]}: ${ce.rawMessage || errorText(err)}${hint}` };
      }
    },
    close: dropConnection,
  };
}
