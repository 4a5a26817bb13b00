import { type ConnectRouter, Code, ConnectError } from "@connectrpc/connect";
import { RegistrationService, type UnitInfo } from "@hsu/proto";
import { checkBearer, listenH2c, type H2cListener } from "@hsu/transport";
import { createGrpcHandler, FastContext } from "@hsu/transport/server";
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HsuError } from "../errors.ts";

/** A handshake the registrar waits for. */
export interface PendingRegistration {
  /** Resolves with what the unit registered; rejects on timeout or cancel. */
  readonly registered: Promise<UnitInfo>;
  /** Stops waiting (the unit was stopped or failed to start). */
  cancel(reason: string): void;
}

/** The master's side of the handshake: serves hsu.master.v1.RegistrationService. */
export interface Registrar {
  /** Where units reach it (HSU_MASTER_ADDR). */
  readonly address: string;
  readonly masterId: string;
  /** Expects one unit to register with this token within `timeoutMs`. */
  expect(unitId: string, token: string, timeoutMs: number): PendingRegistration;
  /** Stops serving; pending registrations are cancelled. */
  close(): Promise<void>;
}

/** Options for {@link createRegistrar}. */
export interface RegistrarOptions {
  /** Where to listen. Default: a Unix socket in a fresh private temp dir. */
  listen?: string;
  /** The master's id, sent back to units. Default "hsu-master". */
  masterId?: string;
}

interface Waiter {
  token: string;
  resolve(info: UnitInfo): void;
  reject(e: Error): void;
}

/**
 * Starts the handshake endpoint. A unit that registers with an id nobody
 * expects is refused with NOT_FOUND, with a wrong token PERMISSION_DENIED.
 */
export async function createRegistrar(options: RegistrarOptions = {}): Promise<Registrar> {
  const masterId = options.masterId ?? "hsu-master";
  const waiters = new Map<string, Waiter>();
  const routes = (router: ConnectRouter) =>
    router.service(RegistrationService, {
      register: (req, ctx) => {
        const info = req.info;
        if (!info?.unitId) throw new ConnectError("Register: info.unit_id is required", Code.InvalidArgument);
        const waiter = waiters.get(info.unitId);
        if (!waiter) throw new ConnectError(`Register: no unit "${info.unitId}" is expected`, Code.NotFound);
        // The raw header on the fast path: building a Headers object loads Node's fetch (megabytes, for good).
        const authorization = ctx instanceof FastContext ? ctx.rawHeader("authorization") : ctx.requestHeader.get("authorization");
        const check = checkBearer(authorization ?? null, waiter.token);
        if (check === "missing") throw new ConnectError("Register needs the unit's token", Code.Unauthenticated);
        if (check === "wrong") throw new ConnectError("Register: the token does not match", Code.PermissionDenied);
        waiters.delete(info.unitId);
        waiter.resolve(info);
        return { masterId };
      },
    });
  // A private temp dir of our own, removed again on close.
  const ownDir = options.listen ? undefined : mkdtempSync(join(tmpdir(), "hsu-"));
  const listen = options.listen ?? `unix:${join(ownDir!, "master.sock")}`;
  // Register is unary: connect-node loads only for a call the fast path leaves (a compressed request, say).
  const grpc = createGrpcHandler({ routes, connect: false });
  const listener: H2cListener = await listenH2c(listen, grpc.handler, { streamFilter: grpc.streamFilter });
  return {
    address: listener.address,
    masterId,
    expect(unitId, token, timeoutMs) {
      if (waiters.has(unitId)) throw new HsuError("already_exists", "a handshake is already pending", { unit: unitId });
      let waiter!: Waiter;
      const registered = new Promise<UnitInfo>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(unitId);
          reject(new HsuError("deadline_exceeded", `did not register within ${timeoutMs} ms`, { unit: unitId }));
        }, timeoutMs);
        waiter = {
          token,
          resolve: (info) => {
            clearTimeout(timer);
            resolve(info);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
      });
      registered.catch(() => {});
      waiters.set(unitId, waiter);
      return {
        registered,
        cancel(reason) {
          if (waiters.get(unitId) !== waiter) return;
          waiters.delete(unitId);
          waiter.reject(new HsuError("cancelled", reason, { unit: unitId }));
        },
      };
    },
    async close() {
      for (const [id, w] of waiters) w.reject(new HsuError("cancelled", "the master is closing", { unit: id }));
      waiters.clear();
      await listener.close();
      if (ownDir) await rm(ownDir, { recursive: true, force: true });
    },
  };
}
