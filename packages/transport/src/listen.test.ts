import * as http2 from "node:http2";
import { mkdtempSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listenH2c } from "./listen.ts";

describe("listenH2c", () => {
  it("answers a client that sends a socket path as :authority (as grpcio does) instead of failing", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "hsu-l-")), "a.sock");
    const listener = await listenH2c(`unix:${path}`, (req, res) => {
      // The compat layer builds the URL from :authority; this is what used to throw.
      res.end(new URL(req.url, `http://${req.authority}`).host);
    });
    const session = http2.connect("http://localhost", { createConnection: () => net.connect(path) });
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ":path": "/x", ":authority": encodeURIComponent(path) });
      let data = "";
      req.setEncoding("utf8").on("data", (d: string) => (data += d));
      req.on("end", () => resolve(data));
      req.on("error", reject);
      req.end();
    });
    session.close();
    await listener.close();
    expect(body).toBe("localhost");
  });
});
