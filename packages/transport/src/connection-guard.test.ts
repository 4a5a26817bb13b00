import * as http2 from "node:http2";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ConnectionLimits } from "./connection-guard.ts";
import { listenH2c, type H2cListener } from "./listen.ts";

let listener: H2cListener | undefined;
const sockets: net.Socket[] = [];
const sessions: http2.ClientHttp2Session[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of sessions.splice(0)) s.destroy();
  await listener?.close({ force: true });
  listener = undefined;
});

/** A TCP listener on 127.0.0.1 whose handler trusts a session that sends `x-trust: yes`, and holds `/hold` open until told. */
async function serve(limits: ConnectionLimits) {
  const held: http2.Http2ServerResponse[] = [];
  listener = await listenH2c(
    "127.0.0.1:0",
    (req, res) => {
      if (req.headers["x-trust"] === "yes") listener!.trust(req.stream.session!);
      if (req.url === "/hold") {
        res.writeHead(200);
        res.write("held");
        held.push(res);
        return;
      }
      res.end("ok");
    },
    { limits },
  );
  return { port: listener.parsed.kind === "tcp" ? listener.parsed.port : 0, held };
}

/** A raw TCP connection that never speaks; resolves once connected. */
function idle(port: number, localAddress = "127.0.0.1"): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress });
    sockets.push(s);
    // Read (and drop) what the server sends, so its close is seen.
    s.resume();
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}
const closed = (s: net.Socket | http2.ClientHttp2Session) => new Promise<void>((r) => (s.destroyed ? r() : s.once("close", () => r())));

function h2(port: number, localAddress = "127.0.0.1"): http2.ClientHttp2Session {
  const s = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => net.connect({ host: "127.0.0.1", port, localAddress }) });
  s.on("error", () => {});
  sessions.push(s);
  return s;
}
function get(session: http2.ClientHttp2Session, path: string, headers: http2.OutgoingHttpHeaders = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":path": path, ...headers });
    let body = "";
    req.setEncoding("utf8").on("data", (d: string) => (body += d));
    req.on("end", () => resolve(body));
    req.on("error", reject);
    req.end();
  });
}

describe("connection limits", () => {
  it("refuses connections over the per-peer cap at once; another peer address still gets in", async () => {
    const { port } = await serve({ maxPerPeer: 3 });
    const five = await Promise.all(Array.from({ length: 5 }, () => idle(port)));
    // Exactly two are closed by the server; which two depends on accept order.
    await new Promise<void>((resolve) => {
      let n = 0;
      for (const s of five) s.once("close", () => ++n === 2 && resolve());
    });
    expect(five.filter((s) => !s.destroyed)).toHaveLength(3);
    expect(await get(h2(port, "127.0.0.2"), "/")).toBe("ok");
    expect(listener!.connectionStats()).toMatchObject({ refused: 2, open: 4 });
  });

  it("refuses connections over the global cap, from any peer", async () => {
    const { port } = await serve({ maxConnections: 2 });
    await idle(port, "127.0.0.1");
    await idle(port, "127.0.0.2");
    const third = await idle(port, "127.0.0.3");
    await closed(third);
    expect(listener!.connectionStats()).toMatchObject({ refused: 1, open: 2, accepted: 2 });
  });

  it("destroys a connection not trusted in time; a trusted one stays", async () => {
    const { port } = await serve({ untrustedTimeoutMs: 150 });
    const trusted = h2(port);
    expect(await get(trusted, "/", { "x-trust": "yes" })).toBe("ok");
    const untrusted = h2(port);
    expect(await get(untrusted, "/")).toBe("ok"); // answered, but not trusted
    const silent = await idle(port);
    // Both untrusted connections are cut; the trusted one, older than both, still answers.
    await Promise.all([closed(untrusted), closed(silent)]);
    expect(await get(trusted, "/")).toBe("ok");
    expect(listener!.connectionStats().expired).toBe(2);
  });

  it("closes a session idle for too long, never one with a stream open", async () => {
    const { port, held } = await serve({ idleTimeoutMs: 150 });
    const busy = h2(port);
    const stream = busy.request({ ":path": "/hold" });
    stream.on("error", () => {});
    await new Promise<void>((r) => stream.once("data", () => r()));
    const lazy = h2(port);
    await get(lazy, "/");
    await closed(lazy);
    // `busy` connected first: its idle deadline would have passed, but its stream is open.
    expect(busy.closed || busy.destroyed).toBe(false);
    held[0]!.end();
    await closed(busy);
    expect(listener!.connectionStats().idled).toBe(2);
  });
});
