import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { AttachGatewayRequestSchema, AttachGatewayResponseSchema } from "@hsu/proto";
import { envelope } from "@hsu/transport/grpc-wire";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { CallMetadata } from "./protocol.ts";

/**
 * The gateway's side of direct grants (the master's control/gateway-grants.ts
 * gives the rules): once the master answered a proxied call with a grant, the
 * next calls of the same caller to the same unit method go to the unit's
 * socket directly - while the grant's epoch is the current one, the grant has
 * not expired, the master's last message is fresh, and the master has not
 * withdrawn the unit's route. Anything else goes through the master, which
 * authorizes, wakes, audits and may grant again.
 */
export interface DirectGrants {
  /** The channel's id, sent on proxied calls as `hsu-gateway-attachment` (undefined while not attached). */
  readonly attachment: string | undefined;
  /** The unit address a call of `key` (see {@link grantKey}) may go to directly, or undefined. */
  route(key: string, unit: string): string | undefined;
  /** Takes the grant a proxied call's response headers carry, if any. */
  learn(key: string, unit: string, headers: CallMetadata): void;
  /** Counts a direct call to `unit` in flight; call the result when it ends. */
  begin(unit: string): () => void;
  /** The unit's address did not take a call (its process is gone): the route is dropped. */
  forget(unit: string): void;
  close(): void;
}

/** What a grant is for: the caller's credential, the unit and the method path. */
export const grantKey = (authorization: string | undefined, unit: string, path: string): string => `${authorization ?? ""}\n${unit}\n${path}`;

/** Grants kept at most (the oldest is dropped first). */
const MAX_GRANTS = 4096;

const monotonicMs = () => Number(process.hrtime.bigint() / 1_000_000n);

interface Route {
  readonly address: string;
  readonly quietMs: number;
  inFlight: number;
  withdrawn: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** Options of {@link attachToMaster}. */
export interface AttachOptions {
  /** The master's control socket. */
  readonly socketPath: string;
  /** This gateway's unit id (HSU_UNIT_ID). */
  readonly unit: string;
  readonly log?: (line: string) => void;
  /** How long to wait before attaching again after the channel ended (default 1000 ms). */
  readonly retryMs?: number;
}

/**
 * Attaches to the master (AttachGateway, one HTTP/2 stream on the control
 * socket) and keeps the grants it allows. A master that refuses (this
 * gateway was not started by it) leaves every call going through the master.
 */
export function attachToMaster(options: AttachOptions): DirectGrants {
  const grants = new Map<string, { epoch: number; until: number }>();
  const routes = new Map<string, Route>();
  let epoch = 0;
  let attachment: string | undefined;
  let freshMs = 0;
  let heardAt = 0;
  let closed = false;
  let session: http2.ClientHttp2Session | undefined;
  let stream: http2.ClientHttp2Stream | undefined;
  let retry: NodeJS.Timeout | undefined;

  const send = (m: MessageInitShape<typeof AttachGatewayRequestSchema>["kind"]) => {
    if (!stream || stream.destroyed) return;
    stream.write(envelope(toBinary(AttachGatewayRequestSchema, create(AttachGatewayRequestSchema, { kind: m }))));
  };

  const drop = (unit: string, r: Route) => {
    clearTimeout(r.timer);
    if (routes.get(unit) === r) routes.delete(unit);
    send({ case: "released", value: unit });
  };

  // A route nobody used for its quiet time (or one the master withdrew) is given back once no call is on it.
  const settle = (unit: string, r: Route) => {
    if (r.inFlight > 0) return;
    if (r.withdrawn) return drop(unit, r);
    clearTimeout(r.timer);
    r.timer = setTimeout(() => r.inFlight === 0 && drop(unit, r), r.quietMs);
    r.timer.unref();
  };

  const detached = () => {
    attachment = undefined;
    grants.clear();
    for (const r of routes.values()) clearTimeout(r.timer);
    routes.clear();
  };

  const onMessage = (bytes: Uint8Array) => {
    const m = fromBinary(AttachGatewayResponseSchema, bytes);
    heardAt = Number(m.sentAtMonotonicMs);
    const e = Number(m.epoch);
    if (e !== epoch) {
      epoch = e;
      grants.clear();
      send({ case: "ackEpoch", value: m.epoch });
    }
    switch (m.kind.case) {
      case "attached":
        attachment = m.kind.value.attachment;
        freshMs = m.kind.value.freshMs;
        options.log?.(`gateway: attached to the master; units are called directly once the master has authorized a caller (grants stay fresh ${freshMs} ms)`);
        break;
      case "withdraw": {
        const r = routes.get(m.kind.value);
        if (r) {
          r.withdrawn = true;
          settle(m.kind.value, r);
        } else send({ case: "released", value: m.kind.value });
        break;
      }
    }
  };

  const connect = () => {
    if (closed) return;
    const s = http2.connect("http://localhost", { createConnection: () => net.connect(options.socketPath) });
    session = s;
    s.on("error", () => {});
    s.unref();
    const st = s.request({
      ":method": "POST",
      ":path": "/hsu.master.v1.ControlService/AttachGateway",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream = st;
    let buf: Buffer = Buffer.alloc(0);
    st.on("data", (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 5) {
        const len = buf.readUInt32BE(1);
        if (buf.length < 5 + len) break;
        try {
          onMessage(buf.subarray(5, 5 + len));
        } catch (e) {
          options.log?.(`gateway: a bad message from the master on AttachGateway: ${(e as Error).message}`);
          st.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        buf = buf.subarray(5 + len);
      }
    });
    let status: string | undefined;
    let message = "";
    const readStatus = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) {
        status = String(h["grpc-status"]);
        message = decodeURIComponent(String(h["grpc-message"] ?? ""));
      }
    };
    st.on("response", readStatus);
    st.on("trailers", readStatus);
    st.on("error", () => {});
    st.once("close", () => {
      if (stream !== st) return;
      const was = attachment !== undefined;
      detached();
      stream = undefined;
      s.close();
      // 9 FAILED_PRECONDITION: this master gives this gateway no grants; asking again would not change that.
      if (status === "9" || status === "12") {
        options.log?.(`gateway: every call goes through the master (${message || "AttachGateway is not served"})`);
        return;
      }
      if (was) options.log?.(`gateway: the channel to the master ended${message ? ` (${message})` : ""}; calls go through the master until it is back`);
      if (closed) return;
      retry = setTimeout(connect, options.retryMs ?? 1000);
      retry.unref();
    });
    send({ case: "hello", value: { unit: options.unit, pid: process.pid } });
  };
  connect();

  return {
    get attachment() {
      return attachment;
    },
    route(key, unit) {
      const r = routes.get(unit);
      if (!r || r.withdrawn || attachment === undefined) return undefined;
      const g = grants.get(key);
      if (!g || g.epoch !== epoch || g.until <= Date.now()) return undefined;
      if (monotonicMs() - heardAt >= freshMs) return undefined;
      return r.address;
    },
    learn(key, unit, h) {
      const e = h["hsu-grant-epoch"];
      if (e === undefined || attachment === undefined || Number(e) !== epoch) return;
      const ttl = Number(h["hsu-grant-ttl-ms"]);
      const quiet = Number(h["hsu-grant-quiet-ms"]);
      const address = h["hsu-grant-address"];
      if (!address || !(ttl > 0) || !(quiet >= 0)) return;
      let r = routes.get(unit);
      if (r && (r.withdrawn || r.address !== address)) return;
      if (!r) {
        r = { address, quietMs: quiet, inFlight: 0, withdrawn: false, timer: undefined };
        routes.set(unit, r);
        settle(unit, r);
      }
      if (grants.size >= MAX_GRANTS && !grants.has(key)) grants.delete(grants.keys().next().value!);
      grants.set(key, { epoch, until: Date.now() + ttl });
    },
    begin(unit) {
      const r = routes.get(unit);
      if (!r) return () => {};
      r.inFlight++;
      clearTimeout(r.timer);
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        r.inFlight--;
        settle(unit, r);
      };
    },
    forget(unit) {
      const r = routes.get(unit);
      if (r) {
        r.withdrawn = true;
        settle(unit, r);
      }
    },
    close() {
      closed = true;
      clearTimeout(retry);
      detached();
      stream?.close();
      session?.close();
    },
  };
}
