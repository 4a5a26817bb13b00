import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { existsSync } from "node:fs";
import { HsuError } from "../errors.ts";
import { isControlAddress, locateMaster, type LocateMasterOptions, type MasterLocation } from "./locate.ts";

/** Options of {@link connectMaster}: where to look for the master (see {@link locateMaster}) and how to talk to it. */
export interface ConnectMasterOptions extends LocateMasterOptions {
  /** The control token, for a master reached over TCP (`master.control.token_file`). */
  token?: string;
  /** Fail calls that cannot reach the master within this long (default 2 s). */
  connectTimeoutMs?: number;
}

/** A connection to a running `hsu` master, through which units are called by id. */
export interface MasterConnection {
  /** Where the master was found, and what said so. */
  readonly location: MasterLocation;
  /** The master's own control API (ListUnits, StartUnit, ...). */
  readonly control: Client<typeof ControlService>;
  /**
   * A typed client for `service` of the unit `unit`: each call goes to the
   * master, which forwards it to the unit (starting an on-demand integrated
   * unit first). An unknown unit id fails the call with the master's answer
   * (NotFound, naming the unit).
   */
  client<S extends DescService>(service: S, unit: string): Client<S>;
  /** The transport behind {@link client}, for libraries that take one. */
  transport(unit: string): Transport;
  /** Cancels calls in flight and refuses new ones; nothing of the connection keeps the process alive after it. */
  close(): void;
}

/**
 * Connects to the running `hsu` master found by {@link locateMaster}
 * (the `socket` option, HSU_CONTROL, or the project's hsu.yaml) and checks
 * that it answers, so a missing master is reported here, once, with what
 * was looked for and how to start one.
 */
export async function connectMaster(options: ConnectMasterOptions = {}): Promise<MasterConnection> {
  const location = locateMaster(options);
  const { socket } = location;
  const tcp = isControlAddress(socket);
  const said = location.source === "spec" ? ` (from ${location.file})` : location.source === "HSU_CONTROL" ? " (from HSU_CONTROL)" : "";
  const fix = "start one with `hsu up` (or `hsu up -d` to run it in the background) in the project's directory, or set HSU_CONTROL to a running master's control socket";
  if (!tcp && !existsSync(socket)) throw new HsuError("unavailable", `no hsu master is running: no control socket at ${socket}${said}; ${fix}`);
  const closing = new AbortController();
  const guard: Interceptor = (next) => (req) => {
    if (closing.signal.aborted) throw new HsuError("cancelled", "the master connection is closed").toConnectError();
    return next({ ...req, signal: AbortSignal.any([req.signal, closing.signal]) });
  };
  const make = (interceptors: Interceptor[]) =>
    createUnitTransport(transportTarget(socket), {
      interceptors: [guard, ...interceptors],
      connectTimeoutMs: options.connectTimeoutMs ?? 2000,
      ...(options.token !== undefined ? { token: options.token } : {}),
    });
  const control = createClient(ControlService, make([]));
  try {
    await control.listUnits({}, { timeoutMs: options.connectTimeoutMs ?? 2000 });
  } catch (e) {
    const err = HsuError.from(e, "unavailable");
    if (err.code === "unauthenticated") {
      throw new HsuError(err.code, `the hsu master at ${socket}${said} refused the connection: ${err.message}; pass the control token (the file master.control.token_file names) or an API token (\`hsu token create\`) as the \`token\` option`, {}, { cause: e });
    }
    // A token the master accepted that may not list units (a caller token, for unit calls only): the master is there.
    if (err.code !== "permission_denied") throw new HsuError(err.code, `the hsu master at ${socket}${said} does not answer: ${err.message}; ${fix}`, {}, { cause: e });
  }
  const transports = new Map<string, Transport>();
  const transport = (unit: string): Transport => {
    if (!unit) throw new HsuError("invalid_argument", "a unit id is needed to call a unit through the master (`hsu ps` lists them)");
    let t = transports.get(unit);
    if (t === undefined) {
      t = make([routeTo(unit)]);
      transports.set(unit, t);
    }
    return t;
  };
  return {
    location,
    control,
    client: (service, unit) => createClient(service, transport(unit)),
    transport,
    close() {
      closing.abort(new HsuError("cancelled", "the master connection was closed"));
      transports.clear();
    },
  };
}

/**
 * A transport that calls `unit` through the master at `controlSocket` (a
 * Unix socket path, or host:port): the `hsu-unit` routing header on every
 * call. {@link connectMaster} finds the socket by itself; this is for
 * callers that already have it.
 */
export function masterUnitTransport(controlSocket: string, unit: string, options: { token?: string; connectTimeoutMs?: number } = {}): Transport {
  return createUnitTransport(transportTarget(controlSocket), { ...options, interceptors: [routeTo(unit)] });
}

/** The master's proxy forwards a call to the unit its `hsu-unit` header names. */
const routeTo =
  (unit: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("hsu-unit", unit);
    return next(req);
  };

/** createUnitTransport's address for a control socket path or host:port. */
const transportTarget = (socket: string): string => (isControlAddress(socket) ? socket : `unix:${socket}`);
