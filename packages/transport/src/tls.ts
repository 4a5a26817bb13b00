import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, unwatchFile, watch, watchFile, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import * as tls from "node:tls";

/** Whether a TLS server asks for client certificates: never, optionally (the app looks), or always (the handshake fails without one). */
export type ClientAuth = "none" | "request" | "require";

/** The files a TLS server is configured with (`tls:` in hsu.yaml, paths resolved). */
export interface TlsFiles {
  /** PEM certificate chain, leaf first. */
  readonly certFile: string;
  /** PEM private key of the leaf. */
  readonly keyFile: string;
  /** PEM CA certificates client certificates must chain to; needed for client_auth request/require. */
  readonly clientCaFile?: string | undefined;
  /** Default "none". */
  readonly clientAuth?: ClientAuth | undefined;
}

/** A certificate pair read and checked: ready to serve. */
export interface LoadedTls {
  readonly files: TlsFiles;
  readonly context: tls.SecureContext;
  /** What `server.setSecureContext` and `createSecureServer` take (cert, key, ca). */
  readonly secureOptions: tls.SecureContextOptions;
  /** The leaf certificate (its `fingerprint256`, `validTo`, `subjectAltName`). */
  readonly certificate: X509Certificate;
  /** A hash of the three files' bytes: equal when nothing changed. */
  readonly digest: string;
}

/** Thrown for a certificate, key or CA file that cannot serve; names the file and the fix. */
export class TlsError extends Error {
  override readonly name = "TlsError";
  /** The file at fault. */
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.file = file;
  }
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TlsError(file, `cannot read the ${what}: ${code ?? (e as Error).message}`, { cause: e });
  }
}

/** Every PEM certificate in a bundle, parsed; throws naming the file when there is none or one is broken. */
function certificates(pem: Buffer, file: string, what: string): X509Certificate[] {
  const blocks = pem.toString("latin1").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new TlsError(file, `the ${what} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new TlsError(file, `certificate ${i + 1} of the ${what} does not parse: ${(e as Error).message}`, { cause: e });
    }
  });
}

/**
 * Reads and checks a certificate pair (and the client CA): each file
 * parses, the key is the certificate's, and the pair builds a secure
 * context. Throws TlsError naming the file at fault.
 */
export function loadTlsFiles(files: TlsFiles): LoadedTls {
  const cert = read(files.certFile, "certificate");
  const key = read(files.keyFile, "private key");
  const clientAuth = files.clientAuth ?? "none";
  if (clientAuth !== "none" && !files.clientCaFile) {
    throw new TlsError(files.certFile, `client_auth ${clientAuth} needs client_ca_file: the CA that client certificates must chain to`);
  }
  const ca = files.clientCaFile ? read(files.clientCaFile, "client CA") : undefined;
  const [leaf] = certificates(cert, files.certFile, "certificate file");
  if (ca) certificates(ca, files.clientCaFile!, "client CA file");
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new TlsError(files.keyFile, `the private key does not parse (expected a PEM private key): ${(e as Error).message}`, { cause: e });
  }
  if (!leaf!.checkPrivateKey(privateKey)) {
    throw new TlsError(files.keyFile, `this private key is not the one of the certificate in ${files.certFile} (a renewal that replaced one file but not the other?)`);
  }
  const secureOptions: tls.SecureContextOptions = { cert, key, ...(ca ? { ca } : {}) };
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext(secureOptions);
  } catch (e) {
    throw new TlsError(files.certFile, `cannot serve this certificate: ${(e as Error).message}`, { cause: e });
  }
  const digest = createHash("sha256").update(cert).update("\0").update(key).update("\0").update(ca ?? "").digest("hex");
  return { files, context, secureOptions, certificate: leaf!, digest };
}

/** The server-level options for a client_auth mode: whether to ask for a client certificate, and whether one is required. */
export function clientAuthOptions(clientAuth: ClientAuth = "none"): { requestCert: boolean; rejectUnauthorized: boolean } {
  return { requestCert: clientAuth !== "none", rejectUnauthorized: clientAuth === "require" };
}

/** What a reload found: a new pair in use, or a broken one refused (the old pair still serving). */
export type TlsReload = { readonly ok: true; readonly loaded: LoadedTls } | { readonly ok: false; readonly error: TlsError };

/** A certificate pair kept current from its files. */
export interface TlsWatcher {
  /** The pair in use: the last one that loaded. */
  current(): LoadedTls;
  /** Options for `tls.createServer`/`http2.createSecureServer`: the pair plus requestCert/rejectUnauthorized. */
  serverOptions(): tls.TlsOptions;
  /** Why the last reload was refused, until one succeeds. */
  lastError(): TlsError | undefined;
  /** Hears every reload outcome after this call; returns the unsubscribe. */
  onReload(listener: (event: TlsReload) => void): () => void;
  /** Reads the files now (as a change would); resolves with what happened, or undefined when nothing changed. */
  reload(): TlsReload | undefined;
  /** Stops watching the files. */
  close(): void;
}

/** Options of {@link watchTls}. */
export interface WatchTlsOptions {
  /** How often the files are stat'ed besides fs.watch events (default 5 s): network file systems and symlink swaps send no events. */
  readonly pollMs?: number;
  /** Hears every reload outcome (a log line). */
  readonly onReload?: (event: TlsReload) => void;
}

/**
 * Loads a certificate pair (throwing TlsError when it cannot serve) and
 * keeps it current: a change to any of the files (an fs.watch event on its
 * directory, which sees renames into place, or a periodic stat) reloads it.
 * A new pair that does not load is refused: the old one keeps serving and
 * the error, naming the file, goes to `onReload`; nothing throws.
 */
export function watchTls(files: TlsFiles, options: WatchTlsOptions = {}): TlsWatcher {
  let current = loadTlsFiles(files);
  let error: TlsError | undefined;
  const listeners = new Set<(event: TlsReload) => void>();
  if (options.onReload) listeners.add(options.onReload);
  const paths = [files.certFile, files.keyFile, ...(files.clientCaFile ? [files.clientCaFile] : [])];
  const emit = (event: TlsReload) => {
    for (const l of listeners) {
      try {
        l(event);
      } catch {
        // A listener's own failure must not stop the others or the watcher.
      }
    }
  };
  const reload = (): TlsReload | undefined => {
    let next: LoadedTls;
    try {
      next = loadTlsFiles(files);
    } catch (e) {
      const err = e instanceof TlsError ? e : new TlsError(files.certFile, (e as Error).message, { cause: e });
      // The same broken state seen again (by the poll, then an event) is reported once.
      if (error?.message === err.message) return undefined;
      error = err;
      const event = { ok: false as const, error: err };
      emit(event);
      return event;
    }
    const recovered = error !== undefined;
    error = undefined;
    if (next.digest === current.digest && !recovered) return undefined;
    current = next;
    const event = { ok: true as const, loaded: next };
    emit(event);
    return event;
  };
  const watchers: FSWatcher[] = [];
  const dirs = new Map<string, Set<string>>();
  for (const p of paths) dirs.set(dirname(p), (dirs.get(dirname(p)) ?? new Set()).add(basename(p)));
  for (const [dir, names] of dirs) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || names.has(String(name))) reload();
      });
      w.on("error", () => w.close());
      watchers.push(w);
    } catch {
      // No inotify (or the directory went): the stat poll still sees changes.
    }
  }
  const pollMs = options.pollMs ?? 5000;
  const onStat = () => void reload();
  for (const p of paths) watchFile(p, { persistent: false, interval: pollMs }, onStat);
  return {
    current: () => current,
    serverOptions: () => ({ ...current.secureOptions, ...clientAuthOptions(files.clientAuth) }),
    lastError: () => error,
    onReload(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reload,
    close() {
      for (const w of watchers) w.close();
      for (const p of paths) unwatchFile(p, onStat);
      listeners.clear();
    },
  };
}
