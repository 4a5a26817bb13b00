import { Validator } from "@seriousme/openapi-schema-validator";
import { build } from "esbuild";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./test-support/free-port.ts";
import { prepareUnit, type PreparedUnit } from "../../conformance/src/prepare.ts";
import { createProjects, hsu, until } from "../../master/src/test-support/hsu-cli.ts";
import type { HsuPage } from "./testdata/browser-page.ts";

// One real master (`hsu up` from source) with the echo unit of every language,
// each integrated and asleep until called, and one gateway routing each under
// its own prefix. curl wakes each unit by REST; a headless Chromium page served
// from another origin calls them by fetch (REST), connect-web (Connect, gRPC-Web)
// and EventSource (SSE), and a page from an origin not in the CORS list is refused.
const root = join(import.meta.dirname, "..", "..", "..");
const gatewayMain = join(import.meta.dirname, "main.ts");
const projects = createProjects("hsu-browser-");
const sh = promisify(execFile);

type Language = "go" | "python" | "rust" | "ts";
const languages: Language[] = ["go", "python", "rust", "ts"];
const unitOf = (l: Language) => `echo-${l}`;

let dir: string | undefined;
let base: string;
let browser: Browser | undefined;
const servers: http.Server[] = [];
const prepared: PreparedUnit[] = [];
let pageOrigin: string;
let refusedOrigin: string;

/** `promise`, or a rejection saying what did not finish within `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms / 1000} s`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Runs Debian's curl; returns the status (from -w) and the body. Never throws on an HTTP error. */
async function curl(...args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await sh("curl", ["-sS", "--max-time", "60", "-w", "\n%{http_code}", ...args], { maxBuffer: 16 * 1024 * 1024 });
  const cut = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** A page server on 127.0.0.1 (its own port, so its own origin) serving the test page and its bundled script. */
async function servePage(script: string): Promise<string> {
  const server = http.createServer((req, res) => {
    if (req.url === "/page.js") return void res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    if (req.url === "/") return void res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><title>hsu</title><script type="module" src="/page.js"></script>');
    res.writeHead(404).end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** The echo unit of `language` as a unit of hsu.yaml (integrated: asleep until the first call). */
function unitYaml(language: Language): string {
  if (language === "ts") {
    const echoUnit = join(root, "examples", "echo", "src", "unit.ts");
    return `  ${unitOf(language)}:\n    kind: integrated\n    command: ${process.execPath}\n    args: ["--conditions=@hsu/source", "${echoUnit}"]\n`;
  }
  const unit = prepared.find((u) => u.language === language)!;
  const [command, ...args] = unit.command;
  const env = Object.keys(unit.env).length ? `    env: ${JSON.stringify(unit.env)}\n` : "";
  return `  ${unitOf(language)}:\n    kind: integrated\n    command: ${JSON.stringify(command)}\n    args: ${JSON.stringify(args)}\n    cwd: ${JSON.stringify(unit.dir)}\n${env}`;
}

async function states(): Promise<Map<string, string>> {
  const r = await hsu(dir!, "ps", "--json");
  expect(r.code, r.stderr).toBe(0);
  const parsed = JSON.parse(r.stdout) as { id: string; state: string }[] | { units: { id: string; state: string }[] };
  return new Map((Array.isArray(parsed) ? parsed : parsed.units).map((u) => [u.id, u.state]));
}

beforeAll(async () => {
  // Built the way the conformance suites build them (generated, then completed from examples/echo-<lang>), in their caches.
  // A language that cannot be prepared here fails the suite with its build output.
  for (const language of ["go", "python", "rust"] as const) {
    prepared.push(await within(20 * 60_000, `preparing the ${language} echo unit`, prepareUnit(language, 10 * 60_000)));
  }
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const script = await build({ entryPoints: [join(import.meta.dirname, "testdata", "browser-page.ts")], bundle: true, format: "esm", platform: "browser", write: false, logLevel: "silent" });
  const js = script.outputFiles[0]!.text;
  pageOrigin = await servePage(js);
  refusedOrigin = await servePage(js);

  dir = projects.make("units: {}\n");
  await sh("npx", ["buf", "build", join(root, "examples", "echo", "proto"), "-o", join(dir, "echo.binpb")], { cwd: root });
  await sh("npx", ["buf", "build", join(root, "proto"), "--path", join(root, "proto", "grpc", "health", "v1", "health.proto"), "-o", join(dir, "health.binpb")], { cwd: root });
  const routes = languages.map((l) => `        - unit: ${unitOf(l)}\n          descriptors: [echo.binpb, health.binpb]\n          prefix: /${l}\n          auth: none\n`).join("");
  writeFileSync(
    join(dir, "hsu.yaml"),
    `units:
${languages.map(unitYaml).join("")}  gateway:
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${gatewayMain}"]
    gateway:
      listen: 127.0.0.1:${port}
      openapi: /openapi.json
      routes:
${routes}      cors: { origins: ["${pageOrigin}"] }
      limits: { timeout: 60s }
`,
  );
  const up = await hsu(dir, "up", "--detach");
  expect(up.code, up.stderr + up.stdout).toBe(0);
  await until("the gateway answers /healthz", async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true);
  browser = await within(60_000, "launching /usr/bin/chromium", chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] }));
}, 30 * 60_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  for (const s of servers) s.close();
  if (dir) {
    const down = await hsu(dir, "down");
    if (down.code !== 0) console.error(`hsu down: ${down.stderr}${down.stdout}`);
  }
  for (const u of prepared) u.release?.();
  projects.removeAll();
});

/** A fresh page of `origin`, its script loaded. */
async function open(origin: string): Promise<Page> {
  const page = await browser!.newPage();
  await page.goto(`${origin}/`, { timeout: 30_000 });
  await page.waitForFunction(() => "hsuPage" in globalThis, undefined, { timeout: 30_000 });
  return page;
}

const call = <K extends keyof HsuPage>(page: Page, name: K, ...args: Parameters<HsuPage[K]>) =>
  page.evaluate(([n, a]) => (globalThis as unknown as { hsuPage: Record<string, (...x: unknown[]) => unknown> }).hsuPage[n as string]!(...(a as unknown[])), [name, args] as const) as Promise<Awaited<ReturnType<HsuPage[K]>>>;

describe("curl: REST into the echo unit of every language", () => {
  it.each(languages)("%s: the first REST call wakes the sleeping unit; POST with a JSON body and GET with a path variable", async (l) => {
    expect((await states()).get(unitOf(l))).not.toMatch(/running|ready/);
    const post = await curl("-H", "content-type: application/json", "-d", JSON.stringify({ message: `hi ${l}` }), `${base}/${l}/v1/echo`);
    expect(post.status, post.body).toBe(200);
    expect(JSON.parse(post.body)).toEqual({ message: `hi ${l}`, unitId: unitOf(l) });
    expect((await states()).get(unitOf(l))).toMatch(/running|ready/);
    const get = await curl(`${base}/${l}/v1/echo/hello%20${l}`);
    expect(get.status, get.body).toBe(200);
    expect(JSON.parse(get.body)).toEqual({ message: `hello ${l}`, unitId: unitOf(l) });
  });

  it.each(languages)("%s: Connect JSON by curl, and Health/Watch as NDJSON and as SSE until the client's deadline ends it", async (l) => {
    const connect = await curl("-H", "content-type: application/json", "-d", JSON.stringify({ message: `rpc ${l}` }), `${base}/${l}/hsu.examples.echo.v1.EchoService/Echo`);
    expect(connect.status, connect.body).toBe(200);
    expect(JSON.parse(connect.body)).toEqual({ message: `rpc ${l}`, unitId: unitOf(l) });
    const watch = `${base}/${l}/grpc.health.v1.Health/Watch`;
    // The stream stays open while the unit serves; the client's own deadline (1 s) ends it, so curl returns.
    const nd = await curl("-N", "-H", "connect-timeout-ms: 1000", "-H", "accept: application/x-ndjson", "-H", "content-type: application/json", "-d", "{}", watch);
    const lines = nd.body.trim().split("\n").map((x) => JSON.parse(x) as unknown);
    expect(lines[0], nd.body).toEqual({ status: "SERVING" });
    expect(lines.at(-1), nd.body).toEqual({ error: { code: "deadline_exceeded", message: expect.any(String) } });
    const sse = await curl("-N", "-H", "connect-timeout-ms: 1000", "-H", "accept: text/event-stream", `${watch}?message=%7B%7D`);
    const events = sse.body.split("\n\n");
    expect(events[0], sse.body).toBe('data: {"status":"SERVING"}');
    expect(sse.body).toMatch(/event: error\ndata: \{"code":"deadline_exceeded"/);
  });

  it("a prefix no route has, no prefix, and two prefixes in a row are 404", async () => {
    const none = await curl("-H", "content-type: application/json", "-d", "{}", `${base}/java/v1/echo`);
    expect(none.status, none.body).toBe(404);
    const unprefixed = await curl("-H", "content-type: application/json", "-d", "{}", `${base}/v1/echo`);
    expect(unprefixed.status, unprefixed.body).toBe(404);
    const doubled = await curl("-H", "content-type: application/json", "-d", "{}", `${base}/go/ts/v1/echo`);
    expect(doubled.status, doubled.body).toBe(404);
  });
});

describe("headless Chromium from another origin", () => {
  it.each(languages)("%s: fetch REST, connect-web Connect (JSON, binary) and gRPC-Web, EventSource SSE", async (l) => {
    const page = await open(pageOrigin);
    try {
      const rest = await call(page, "rest", base, `/${l}`, `page ${l}`);
      expect(rest).toEqual({ post: { status: 200, body: { message: `page ${l}`, unitId: unitOf(l) } }, get: { status: 200, body: { message: `page ${l}`, unitId: unitOf(l) } } });
      const rpc = await call(page, "rpc", base, `/${l}`, `rpc ${l}`);
      const want = { body: { message: `rpc ${l}`, unitId: unitOf(l) } };
      expect(rpc).toEqual({ connectJson: want, connectBinary: want, grpcWeb: want });
      expect(await call(page, "sse", base, `/${l}`, 20_000)).toEqual({ body: { status: "SERVING" } });
    } finally {
      await page.close();
    }
  });

  it("a page from an origin not in gateway.cors.origins cannot read any answer", async () => {
    const page = await open(refusedOrigin);
    const console_: string[] = [];
    page.on("console", (m) => console_.push(m.text()));
    try {
      const rest = await call(page, "rest", base, "/go", "refused");
      expect(rest.post.error, JSON.stringify(rest)).toMatch(/Failed to fetch/);
      expect(rest.get.error, JSON.stringify(rest)).toMatch(/Failed to fetch/);
      const rpc = await call(page, "rpc", base, "/ts", "refused");
      for (const seen of Object.values(rpc)) expect(seen.error, JSON.stringify(rpc)).toBeDefined();
      expect((await call(page, "sse", base, "/ts", 20_000)).error).toMatch(/EventSource error/);
      // Refused by the browser's CORS check, not by the network: Chromium says so.
      expect(console_.join("\n")).toMatch(/blocked by CORS policy/);
    } finally {
      await page.close();
    }
  });
});

describe("the OpenAPI document of the live gateway", () => {
  it("validates as OpenAPI 3.1 and lists the REST routes of every prefix", async () => {
    const res = await fetch(`${base}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    const result = await new Validator().validate(doc as unknown as Parameters<Validator["validate"]>[0]);
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc.openapi).toMatch(/^3\.1/);
    for (const l of languages) {
      expect(Object.keys(doc.paths[`/${l}/v1/echo`] ?? {}), l).toContain("post");
      expect(Object.keys(doc.paths[`/${l}/v1/echo/{message}`] ?? {}), l).toContain("get");
    }
  });
});
