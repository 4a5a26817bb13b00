// Downloads an artifact into a `.part` file that survives a crash: a later
// call resumes it with an HTTP Range request (If-Range on the ETag or
// Last-Modified the server gave), so a kill -9 mid-download costs only the
// bytes not yet written. Every wait has a deadline; the size is capped while
// bytes arrive; the sha256 is computed on the way in.
import { HsuError } from "@hsu/client";
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** Deadlines and caps of one download. */
export interface FetchOptions {
  /** Refuse the artifact past this many bytes (checked against Content-Length and while reading). */
  maxBytes: number;
  /** How long to wait for the TCP (and TLS) connection and the response headers (default 15 s). */
  connectTimeoutMs?: number;
  /** How long the server may send nothing once the response started (default 30 s). */
  idleTimeoutMs?: number;
  /** The whole download, retries of a stalled trickle included (default 30 min). */
  totalTimeoutMs?: number;
  /** At most this many redirects, each to http(s) only (default 5). */
  maxRedirects?: number;
  signal?: AbortSignal;
}

/** What a finished download holds. */
export interface Fetched {
  bytes: number;
  /** Lower-case hex sha256 of the whole file. */
  sha256: string;
  /** Bytes that were already in the `.part` file from an earlier, interrupted call. */
  resumedFrom: number;
}

/** The ETag / Last-Modified a `.part` file was started with, kept beside it so a resume asks for the same version. */
interface PartMeta {
  url: string;
  etag?: string;
  lastModified?: string;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
export const DEFAULT_TOTAL_TIMEOUT_MS = 30 * 60_000;

/**
 * Fetches `url` (https:, http: or file:) into `partPath`, resuming what an
 * earlier call left there, and returns its size and sha256. A failure leaves
 * the part file (so the next call resumes) unless it is known bad (too large,
 * refused redirect), which is deleted.
 */
export async function fetchToFile(url: string, partPath: string, options: FetchOptions): Promise<Fetched> {
  const u = new URL(url);
  if (u.protocol === "file:") return copyFile(fileURLToPath(u), url, partPath, options.maxBytes);
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new HsuError("invalid_argument", `${url}: only https:, http: and file: URLs are supported`);
  const total = AbortSignal.timeout(options.totalTimeoutMs ?? DEFAULT_TOTAL_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, total]) : total;
  try {
    return await httpDownload(url, partPath, options, signal);
  } catch (e) {
    if (total.aborted) throw new HsuError("deadline_exceeded", `${url}: the download took longer than ${(options.totalTimeoutMs ?? DEFAULT_TOTAL_TIMEOUT_MS) / 1000}s; run it again to resume`, {}, { cause: e });
    throw e;
  }
}

/** Fetches a small file (a signature) into memory, with the same deadlines; at most `maxBytes`. */
export async function fetchSmall(url: string, options: FetchOptions): Promise<Buffer> {
  const u = new URL(url);
  if (u.protocol === "file:") {
    const path = fileURLToPath(u);
    const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
      throw new HsuError("not_found", `${url}: ${e.code === "ENOENT" ? "no such file" : e.message}`, {}, { cause: e });
    });
    if (st.size > options.maxBytes) throw new HsuError("resource_exhausted", `${url}: ${st.size} bytes, more than the ${options.maxBytes} allowed`);
    return readFile(path);
  }
  const signal = AbortSignal.any([AbortSignal.timeout(options.totalTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS * 2), ...(options.signal ? [options.signal] : [])]);
  const res = await get(url, {}, options, signal);
  if (res.statusCode !== 200) {
    res.resume();
    throw new HsuError(res.statusCode === 404 ? "not_found" : "unavailable", `${url}: the server answered ${res.statusCode} ${res.statusMessage ?? ""}`.trim());
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of bodyWithIdle(res, url, options, "try again")) {
    n += chunk.length;
    if (n > options.maxBytes) {
      res.destroy();
      throw new HsuError("resource_exhausted", `${url}: more than the ${options.maxBytes} bytes allowed`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function copyFile(path: string, url: string, partPath: string, maxBytes: number): Promise<Fetched> {
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw new HsuError("not_found", `${url}: ${e.code === "ENOENT" ? "no such file" : e.message}`, {}, { cause: e });
  });
  if (!st.isFile()) throw new HsuError("invalid_argument", `${url}: not a regular file`);
  if (st.size > maxBytes) throw tooLarge(url, st.size, maxBytes);
  const hash = createHash("sha256");
  const out = await open(partPath, "w", 0o600);
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > maxBytes) throw tooLarge(url, maxBytes, maxBytes, false);
      hash.update(chunk);
      await out.write(chunk);
    }
  } catch (e) {
    await out.close();
    await rm(partPath, { force: true });
    throw HsuError.is(e) ? e : await writeFailed(e, partPath);
  }
  await out.close();
  return { bytes, sha256: hash.digest("hex"), resumedFrom: 0 };
}

const tooLarge = (url: string, bytes: number, max: number, exact = true) =>
  new HsuError("resource_exhausted", `${url}: the artifact is ${exact ? "" : "more than "}${bytes} bytes, past source.max_size (${max} bytes); raise max_size if it is meant to be this large`);

async function readMeta(partPath: string): Promise<PartMeta | undefined> {
  try {
    return JSON.parse(await readFile(`${partPath}.meta`, "utf8")) as PartMeta;
  } catch {
    return undefined;
  }
}

async function httpDownload(url: string, partPath: string, options: FetchOptions, signal: AbortSignal): Promise<Fetched> {
  const meta = await readMeta(partPath);
  const have = meta?.url === url && (meta.etag || meta.lastModified) ? ((await stat(partPath).catch(() => undefined))?.size ?? 0) : 0;
  const headers: Record<string, string> = {};
  if (have > 0) {
    headers.range = `bytes=${have}-`;
    headers["if-range"] = meta!.etag ?? meta!.lastModified!;
  }
  const res = await get(url, headers, options, signal);
  const status = res.statusCode ?? 0;
  if (status === 416 && have > 0) {
    // The part already holds the whole file (a crash after the last byte, before the rename).
    res.resume();
    const whole = /\/(\d+)$/.exec(String(res.headers["content-range"] ?? ""));
    if (whole && Number(whole[1]) === have) return { bytes: have, sha256: await hashPrefix(partPath, have), resumedFrom: have };
    await rm(partPath, { force: true });
    return httpDownload(url, partPath, options, signal);
  }
  if (status !== 200 && status !== 206) {
    res.resume();
    throw new HsuError(status === 404 ? "not_found" : "unavailable", `${url}: the server answered ${status} ${res.statusMessage ?? ""}; check source.url`.replace(/ +;/, ";"));
  }
  const resumed = status === 206 && have > 0 && String(res.headers["content-range"] ?? "").startsWith(`bytes ${have}-`);
  const start = resumed ? have : 0;
  const length = Number(res.headers["content-length"] ?? NaN);
  if (Number.isFinite(length) && start + length > options.maxBytes) {
    res.destroy();
    await dropPart(partPath);
    throw tooLarge(url, start + length, options.maxBytes);
  }
  const etag = typeof res.headers.etag === "string" && !res.headers.etag.startsWith("W/") ? res.headers.etag : undefined;
  const lastModified = res.headers["last-modified"];
  const hash = createHash("sha256");
  if (resumed) await hashInto(hash, partPath, start);
  else await writeFile(`${partPath}.meta`, JSON.stringify({ url, etag, lastModified } satisfies PartMeta), { mode: 0o600 });
  const out = await open(partPath, resumed ? "a" : "w", 0o600);
  let bytes = start;
  try {
    for await (const chunk of bodyWithIdle(res, url, options)) {
      bytes += chunk.length;
      if (bytes > options.maxBytes) {
        res.destroy();
        await out.close();
        await dropPart(partPath);
        throw tooLarge(url, options.maxBytes, options.maxBytes, false);
      }
      hash.update(chunk);
      await out.write(chunk).catch(async (e: unknown) => {
        res.destroy();
        throw await writeFailed(e, partPath);
      });
    }
  } finally {
    await out.close().catch(() => {});
  }
  if (Number.isFinite(length) && bytes !== start + length) {
    throw new HsuError("unavailable", `${url}: the connection ended after ${bytes} of ${start + length} bytes; run it again to resume from byte ${bytes}`);
  }
  return { bytes, sha256: hash.digest("hex"), resumedFrom: start };
}

/** A write to the `.part` file failed: a full disk drops it (keeping it would keep the disk full). */
async function writeFailed(e: unknown, partPath: string): Promise<HsuError> {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    await dropPart(partPath);
    return new HsuError("resource_exhausted", `the disk holding ${dirname(partPath)} is full (${code}); free some space (or set master.state_dir on a larger disk) and run it again`, {}, { cause: e });
  }
  return new HsuError("internal", `cannot write ${partPath}: ${(e as Error).message}`, {}, { cause: e });
}

async function dropPart(partPath: string): Promise<void> {
  await rm(partPath, { force: true });
  await rm(`${partPath}.meta`, { force: true });
}

/** Removes a finished (or abandoned) download and what it kept for resuming. */
export const removePart = dropPart;

async function hashInto(hash: Hash, path: string, bytes: number): Promise<void> {
  if (bytes === 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) hash.update(chunk);
}

async function hashPrefix(path: string, bytes: number): Promise<string> {
  const hash = createHash("sha256");
  await hashInto(hash, path, bytes);
  return hash.digest("hex");
}

/**
 * One GET with the connect deadline on the socket until the headers arrive;
 * follows redirects to http(s) only (a redirect to file: would read the
 * master's own files), never from https down to http.
 */
async function get(url: string, headers: Record<string, string>, options: FetchOptions, signal: AbortSignal, hops = 0): Promise<IncomingMessage> {
  const connectMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const u = new URL(url);
  const request = u.protocol === "https:" ? httpsRequest : httpRequest;
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(u, { headers: { "user-agent": "hsu", ...headers }, timeout: connectMs, signal, agent: false }, resolve);
    req.once("timeout", () => req.destroy(new HsuError("deadline_exceeded", `${url}: no answer within ${connectMs / 1000}s (connect and response headers); check the host is reachable, or raise source.connect_timeout`)));
    req.once("error", (e) => reject(wrapNetError(url, e, signal)));
    req.end();
  });
  const status = res.statusCode ?? 0;
  if (status >= 300 && status < 400 && res.headers.location) {
    res.resume();
    const next = new URL(res.headers.location, u);
    if (next.protocol !== "http:" && next.protocol !== "https:") {
      throw new HsuError("permission_denied", `${url}: redirected to ${next.protocol} (${next.href}); only http(s) redirects are followed: put that URL in source.url if it is meant`);
    }
    if (u.protocol === "https:" && next.protocol === "http:") throw new HsuError("permission_denied", `${url}: redirected from https to plain http (${next.href}); refused`);
    if (hops >= (options.maxRedirects ?? 5)) throw new HsuError("unavailable", `${url}: more than ${options.maxRedirects ?? 5} redirects`);
    return get(next.href, headers, options, signal, hops + 1);
  }
  return res;
}

function wrapNetError(url: string, e: unknown, signal: AbortSignal): HsuError {
  if (HsuError.is(e)) return e;
  if (signal.aborted) return new HsuError("cancelled", `${url}: the download was cancelled`, {}, { cause: e });
  const code = (e as NodeJS.ErrnoException).code;
  const message = (e as Error).message;
  return new HsuError("unavailable", `${url}: ${code && !message.includes(code) ? `${code}: ` : ""}${message}; check the URL and the network`, {}, { cause: e });
}

/** The response body, failing when the server sends nothing for the idle timeout or closes early. */
async function* bodyWithIdle(res: IncomingMessage, url: string, options: FetchOptions, retry = "run it again to resume"): AsyncGenerator<Buffer> {
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const socket = res.socket;
  const onIdle = () => res.destroy(new HsuError("deadline_exceeded", `${url}: the server sent nothing for ${idleMs / 1000}s; the download stalled (${retry})`));
  socket.setTimeout(idleMs, onIdle);
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) yield chunk;
  } catch (e) {
    if (HsuError.is(e)) throw e;
    throw new HsuError("unavailable", `${url}: the connection broke (${(e as Error).message}); ${retry}`, {}, { cause: e });
  } finally {
    socket.off("timeout", onIdle);
    socket.setTimeout(0);
  }
}
