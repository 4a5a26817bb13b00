import type { ConnectRouter } from "@connectrpc/connect";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { HsuError } from "@hsu/client";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Deployment } from "../config/index.ts";
import { openAuditLog } from "../auth/audit.ts";
import { coalesceRefusals, type AuditWriter } from "../auth/audit-coalesce.ts";
import { createOidcVerifier } from "../auth/oidc.ts";
import { publicServices } from "../config/index.ts";
import type { JwtVerifier } from "../auth/authenticate.ts";
import { openTokenStore, type TokenStore } from "../auth/tokens.ts";
import { listenControl, type ControlListeners } from "../control/listen.ts";
import { checkControlSocketPath } from "../control/socket-path.ts";
import { controlService } from "../control/service.ts";
import { ATTACHMENT_HEADER, createGatewayGrants } from "../control/gateway-grants.ts";
import { createUnitProxy } from "../control/unit-proxy.ts";
import { acquireStateLock, type AcquireOptions, type StateLock } from "./lock.ts";
import { createMaster, type Master } from "./master.ts";
import { checkStateDir } from "./state-dir.ts";

/** A master serving its control API. */
export interface RunningMaster {
  readonly master: Master;
  readonly control: ControlListeners;
  /** Resolves once the master has shut down (ShutdownMaster, a signal, or `stop`). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * True when a master answers on this control socket within 2 s: a readiness
 * probe. It never decides whether a master runs (a stopped one does not
 * answer); the state dir's lock does (see `acquireStateLock`).
 */
export async function masterAnswers(socketPath: string): Promise<boolean> {
  const client = createClient(ControlService, createUnitTransport(`unix:${socketPath}`, { connectTimeoutMs: 1000 }));
  try {
    await client.listUnits({}, { timeoutMs: 2000 });
    return true;
  } catch {
    return false;
  }
}

/** Options for {@link runMaster}. */
export interface RunMasterOptions {
  log?: (line: string) => void;
  handleSignals?: boolean;
  /** Verifies a JWT bearer (OIDC) on the TCP port and for gateway callers; none: JWTs are refused. */
  oidc?: JwtVerifier;
  /** The (unit, service) pairs a gateway route declares `auth: none` (anonymous gateway callers may call only these). */
  publicServices?: (unit: string, service: string) => boolean;
}

/**
 * Starts a master for a deployment and serves its control API (and the unit
 * proxy) on the control socket. The state dir's exclusive lock is taken
 * before anything else touches the state dir and held until `stop()` ends
 * (or the process dies): a second master for the same state dir - while this
 * one runs, is stopped or starves - is refused, naming our pid. `up()` is left
 * to the caller, so it can show progress.
 */
export async function runMaster(deployment: Deployment, options: RunMasterOptions = {}): Promise<RunningMaster> {
  const m = deployment.master;
  checkStateDir(m.stateDir);
  const lock = await lockStateDir(deployment);
  let master: Master;
  let token: string | undefined;
  let tokens: TokenStore;
  let audit: AuditWriter | undefined;
  try {
    await checkControlSocketPath(m.controlSocket);
    if (m.tokenFile) token = (await readFile(m.tokenFile, "utf8")).trim();
    tokens = openTokenStore({ stateDir: m.stateDir });
    // A flood of refused calls costs a bounded number of lines; the summaries are written when a window ends and at close.
    audit = coalesceRefusals(await openAuditLog(m.auth.auditFile), options.log ? { log: options.log } : {});
    master = await createMaster({ deployment, ...(options.log ? { log: options.log } : {}) });
  } catch (e) {
    await audit?.close();
    lock.release();
    throw e;
  }
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;
  const pidFile = join(m.stateDir, "master.pid");
  let control: ControlListeners | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      grants.close();
      await master.shutdown().catch((e: unknown) => options.log?.(`shutdown: ${(e as Error).message}`));
      await control?.close();
      await audit!.close().catch((e: unknown) => options.log?.(`audit log: ${(e as Error).message}`));
      await rm(pidFile, { force: true });
      lock.release();
      resolveDone();
    })());
  // Direct grants for the gateway units of this deployment (control/gateway-grants.ts).
  const grants = createGatewayGrants({
    targets: {
      quietMs: (unit) => {
        const cfg = master.deployment.units[unit];
        if (!cfg || cfg.kind !== "integrated" || cfg.replicas !== undefined) return undefined;
        // Released well before the unit's own idle timeout, so a direct route delays an idle stop by at most this.
        return cfg.idleTimeoutMs === undefined ? 1000 : Math.max(10, Math.min(1000, Math.floor(cfg.idleTimeoutMs / 2)));
      },
      hold: async (unit, onLeaving) => {
        try {
          return await master.integrated(unit).hold(unit, onLeaving);
        } catch {
          return undefined;
        }
      },
      isGateway: (unit, pid) => master.deployment.units[unit]?.gateway !== undefined && master.get(unit)[0]?.pid === pid,
    },
    ...(options.log ? { log: options.log } : {}),
  });
  const proxy = createUnitProxy(async (unit, signal) => {
    try {
      const slot = master.integrated(unit);
      return await slot.lease(unit, signal);
    } catch (e) {
      if (e instanceof ConnectError) throw e;
      const err = HsuError.from(e);
      throw new ConnectError(err.message, err.code === "not_found" ? Code.NotFound : err.grpcCode);
    }
  }, (unit, req, admitted) => grants.offer(header(req.headers[ATTACHMENT_HEADER]), unit, admitted.epoch, admitted.expiresAt));
  // JWTs from the configured OIDC providers; discovery runs now so a wrong issuer shows in the log at once, but a
  // provider that is down does not keep the master from starting (its callers get UNAVAILABLE until it answers).
  let oidc = options.oidc;
  if (!oidc && m.auth.oidc.length > 0) {
    const verifier = createOidcVerifier({ providers: m.auth.oidc, onKeySet: () => grants.invalidate("a new OIDC key set") });
    verifier.discover().catch((e: unknown) => options.log?.(`auth: ${(e as Error).message}`));
    oidc = (jwt) => verifier.verify(jwt);
  }
  // A master that cannot serve its control API must not stay around without it: release everything.
  try {
    control = await listenControl({
      socketPath: m.controlSocket,
      ...(m.controlTcp ? { tcp: m.controlTcp } : {}),
      ...(token ? { token } : {}),
      auth: {
        tokens,
        audit: audit!,
        ...(oidc ? { oidc } : {}),
        publicServices: options.publicServices ?? publicServices(deployment),
        grants,
        ...(options.log ? { log: options.log } : {}),
      },
      ...(m.controlTls ? { tls: m.controlTls } : {}),
      ...(options.log ? { log: options.log } : {}),
      routes: (router: ConnectRouter) => router.service(ControlService, controlService(master, () => void stop(), tokens, grants)),
      fallback: proxy,
    });
    await writeFile(pidFile, `${process.pid}\n`);
    // Scripts (and `hsu --socket`) learn the TCP port here when port 0 was asked for.
    if (control.tcpAddress) await writeFile(join(m.stateDir, "control-tcp.addr"), `${control.tcpAddress}\n`);
  } catch (e) {
    // Stops the units, closes what listens and releases the lock; listenControl closes (and unlinks) its own socket on failure.
    await stop();
    throw e;
  }
  if (options.handleSignals ?? true) {
    const onSignal = () => void stop();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  return { master, control, done: done.then(() => undefined), stop };
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** The state dir's lock, or the refusal of a second master: who holds it and what to do. */
export async function lockStateDir(deployment: Deployment, options: AcquireOptions = {}): Promise<StateLock> {
  try {
    return await acquireStateLock(deployment.master.stateDir, options);
  } catch (e) {
    if (!HsuError.is(e, "already_exists")) throw e;
    throw new HsuError("already_exists", `a master is already running on ${deployment.master.controlSocket}; ${e.message} (a second master beside it needs its own master.state_dir in its hsu.yaml)`, {}, { cause: e });
  }
}
