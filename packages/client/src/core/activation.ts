import { randomBytes } from "node:crypto";
import { lstatSync, renameSync, unlinkSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { dirname, join } from "node:path";
import { HsuError } from "../errors.ts";

/**
 * The fd a unit inherits its listening socket on, and the variables that say
 * so (docs/unit-contract.md, *Socket activation*). Node's spawn cannot know
 * the child's pid before exec, so `LISTEN_PID` stays unset and
 * `HSU_LISTEN_FD=3` marks the fd as meant for the unit itself.
 */
export const activationEnv = { LISTEN_FDS: "1", LISTEN_FDNAMES: "hsu", HSU_LISTEN_FD: "3" } as const;

/** A listening socket the master bound for one process of a unit. */
export interface ActivationSocket {
  /** What the unit is told in HSU_LISTEN: where the socket is. */
  readonly address: string;
  /** The master's fd of the socket, to pass as the child's fd 3. */
  readonly fd: number;
  /**
   * Closes the master's copy. Called right after spawn(): the child holds the
   * socket from then on, so it is gone (and queued connections reset) when
   * the unit's process group is, instead of keeping a crashed unit's callers
   * waiting.
   */
  release(): void;
  /**
   * True when the unit serves on this socket: for a Unix socket, the file at
   * the path is still ours (a unit that binds by itself replaces it); for
   * TCP, the unit registered this socket's address.
   */
  adoptedBy(registeredAddress: string): boolean;
  /** Once the unit has exited: removes the socket file if it is still the master's (the unit leaves it). */
  remove(): void;
}

/**
 * Binds the socket a unit will inherit: `unix:<path>` or `127.0.0.1:0` (a free
 * port, chosen now). A Unix socket is bound at a private name beside `path`
 * and renamed over it, so a stale socket is replaced in one step and the
 * master's libuv handle (which unlinks its own name on close) never removes
 * the unit's file. Anything but a socket at `path` is refused. Resolves to
 * undefined where an fd cannot be had (no handle fd on this platform).
 */
export async function bindActivationSocket(listen: "tcp" | { unixPath: string }, unit: string): Promise<ActivationSocket | undefined> {
  const server = createServer();
  // Nobody knows the address before spawn; a stray connection in that window is dropped, never served.
  server.on("connection", (socket) => socket.destroy());
  if (listen === "tcp") {
    await listenOn(server, { host: "127.0.0.1", port: 0 }, unit);
    const port = (server.address() as AddressInfo).port;
    return wrap(server, `127.0.0.1:${port}`, (registered) => registered === `127.0.0.1:${port}`, () => {});
  }
  const path = listen.unixPath;
  const existing = lstatSync(path, { throwIfNoEntry: false });
  if (existing && !existing.isSocket()) {
    throw new HsuError("failed_precondition", `${path} exists and is not a socket; remove it or choose another socket_dir`, { unit });
  }
  const temp = join(dirname(path), `.${randomBytes(6).toString("hex")}`);
  if (Buffer.byteLength(temp) >= 108) return undefined;
  await listenOn(server, { path: temp }, unit);
  renameSync(temp, path);
  const ino = lstatSync(path).ino;
  const ours = () => lstatSync(path, { throwIfNoEntry: false })?.ino === ino;
  return wrap(server, `unix:${path}`, ours, () => {
    try {
      if (ours()) unlinkSync(path);
    } catch {
      // Gone already, or the directory with it.
    }
  });
}

function wrap(server: Server, address: string, adoptedBy: (registered: string) => boolean, remove: () => void): ActivationSocket | undefined {
  // libuv's handle fd (what cluster uses); absent on platforms without one.
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) {
    server.close();
    return undefined;
  }
  let released = false;
  return {
    address,
    fd,
    release() {
      if (released) return;
      released = true;
      server.close();
    },
    adoptedBy,
    remove,
  };
}

function listenOn(server: Server, where: { host: string; port: number } | { path: string }, unit: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new HsuError("unavailable", `cannot bind the unit's socket at ${"path" in where ? where.path : `${where.host}:0`}: ${e.message}`, { unit }, { cause: e })),
    );
    server.listen(where, () => resolve());
  });
}
