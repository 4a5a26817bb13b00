// The downloader against a real HTTP server on 127.0.0.1: resume rules, caps and deadlines.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HsuError } from "@hsu/client";
import { fetchSmall, fetchToFile } from "./fetch.ts";

const tmp = mkdtempSync(join(tmpdir(), "hsu-fetch-"));
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let body = Buffer.from("version one ".repeat(10_000));
let etag = '"v1"';
const ranges: (string | undefined)[] = [];
let server: Server;
let base = "";
const sockets = new Set<Socket>();
const silent = createTcpServer((s) => sockets.add(s)); // accepts, never answers

beforeAll(async () => {
  server = createServer((req, res) => {
    ranges.push(req.headers.range);
    if (req.url === "/loop") return void res.writeHead(302, { location: "/loop" }).end();
    if (req.url === "/chunked") {
      res.writeHead(200);
      return void res.end(body); // no content-length: capped while reading
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const from = m && req.headers["if-range"] === etag ? Number(m[1]) : 0;
    if (from >= body.length && from > 0) return void res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
    res.writeHead(from ? 206 : 200, { etag, "content-length": body.length - from, ...(from ? { "content-range": `bytes ${from}-${body.length - 1}/${body.length}` } : {}) });
    res.end(body.subarray(from));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<HsuError> {
  try {
    await p;
  } catch (e) {
    if (HsuError.is(e)) return e;
    throw e;
  }
  throw new Error("accepted");
}

describe("fetchToFile", () => {
  it("resumes a part with Range + If-Range; when the server's version changed it starts over", async () => {
    const part = join(tmp, "a.part");
    const first = await fetchToFile(`${base}/a.tgz`, part, { maxBytes: 1 << 20 });
    expect(first).toEqual({ bytes: body.length, sha256: sha(body), resumedFrom: 0 });
    // Cut the part short, as a crash would: the next call asks for the rest only.
    writeFileSync(part, readFileSync(part).subarray(0, 1000));
    ranges.length = 0;
    expect(await fetchToFile(`${base}/a.tgz`, part, { maxBytes: 1 << 20 })).toEqual({ bytes: body.length, sha256: sha(body), resumedFrom: 1000 });
    expect(ranges).toEqual(["bytes=1000-"]);
    // A new version under the same URL: If-Range fails, the whole new file comes, the old bytes are dropped.
    writeFileSync(part, readFileSync(part).subarray(0, 1000));
    body = Buffer.from("version two ".repeat(9_000));
    etag = '"v2"';
    expect(await fetchToFile(`${base}/a.tgz`, part, { maxBytes: 1 << 20 })).toEqual({ bytes: body.length, sha256: sha(body), resumedFrom: 0 });
    expect(readFileSync(part)).toEqual(body);
  });

  it("a part that already holds the whole file (crash after the last byte) completes from a 416", async () => {
    const part = join(tmp, "b.part");
    await fetchToFile(`${base}/b.tgz`, part, { maxBytes: 1 << 20 });
    expect(await fetchToFile(`${base}/b.tgz`, part, { maxBytes: 1 << 20 })).toEqual({ bytes: body.length, sha256: sha(body), resumedFrom: body.length });
  });

  it("without Content-Length the cap holds while reading, and the part is dropped", async () => {
    const part = join(tmp, "c.part");
    const e = await refusal(fetchToFile(`${base}/chunked`, part, { maxBytes: 5000 }));
    expect(e.code).toBe("resource_exhausted");
    expect(e.message).toMatch(/more than 5000 bytes, past source\.max_size/);
    expect(existsSync(part)).toBe(false);
  });

  it("a redirect loop ends after 5 hops", async () => {
    const e = await refusal(fetchToFile(`${base}/loop`, join(tmp, "d.part"), { maxBytes: 1000 }));
    expect(e.message).toMatch(/more than 5 redirects/);
  });

  it("a server that accepts and never answers hits the connect deadline", async () => {
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/x.tgz`;
    const started = Date.now();
    const e = await refusal(fetchToFile(url, join(tmp, "e.part"), { maxBytes: 1000, connectTimeoutMs: 300 }));
    expect(e.code).toBe("deadline_exceeded");
    expect(e.message).toMatch(/no answer within 0\.3s/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("a refused connection and an unknown scheme say so", async () => {
    const closed = createTcpServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect((await refusal(fetchToFile(`http://127.0.0.1:${port}/x.tgz`, join(tmp, "f.part"), { maxBytes: 1000 }))).message).toMatch(/ECONNREFUSED.*check the URL/);
    expect((await refusal(fetchToFile("ftp://h/x.tgz", join(tmp, "f.part"), { maxBytes: 1000 }))).message).toMatch(/only https:, http: and file: URLs/);
  });
});

describe("fetchSmall", () => {
  it("reads a file: URL and an http one, capped", async () => {
    writeFileSync(join(tmp, "sig"), "x".repeat(100));
    expect((await fetchSmall(`file://${join(tmp, "sig")}`, { maxBytes: 100 })).length).toBe(100);
    expect((await refusal(fetchSmall(`file://${join(tmp, "sig")}`, { maxBytes: 99 }))).code).toBe("resource_exhausted");
    expect((await refusal(fetchSmall(`${base}/chunked`, { maxBytes: 99 }))).code).toBe("resource_exhausted");
    expect((await refusal(fetchSmall(`file://${join(tmp, "none")}`, { maxBytes: 99 }))).message).toMatch(/no such file/);
  });
});
