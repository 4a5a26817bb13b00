import { createClient, type Client } from "@connectrpc/connect";
import { HsuError } from "@hsu/client/errors";
import { isControlAddress, locateMaster } from "@hsu/client/locate";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { existsSync } from "node:fs";
import type { Deployment } from "../config/index.ts";
import { masterSocket } from "./master-socket.ts";
import { requireSpecFile } from "./spec-file.ts";
import { connectHints, controlTlsFiles, controlToken, readControlTls } from "./tcp-credentials.ts";

/**
 * The deadline of every read the CLI makes (ListUnits, GetUnit): a master
 * that accepts and never answers (stopped with SIGSTOP, wedged) gets a
 * message after this long instead of a CLI that waits for ever.
 */
export const READ_TIMEOUT_MS = 10_000;

/** The typed client of a master's control API. */
export type ControlClient = Client<typeof ControlService>;

export { requireSpecFile };

/** True for host:port (TCP) rather than a Unix socket path. */
export const isAddress = isControlAddress;

/**
 * Where the CLI finds the master: --socket, HSU_CONTROL, or hsu.yaml's state
 * dir; the first two through @hsu/client's `locateMaster`, the one lookup a
 * master written in TypeScript uses too. The spec is loaded whole here (its
 * state dir and stop deadlines matter to `hsu down`), with the same
 * `masterPaths` rule for the socket.
 */
export async function controlSocketFor(file: string, socket?: string): Promise<{ socket: string; deployment?: Deployment }> {
  if (socket || process.env.HSU_CONTROL) return { socket: locateMaster(socket ? { socket } : {}).socket };
  const { loadDeployment } = await import("../config/index.ts");
  // Only where the master is matters here: a unit's executable that is gone must not keep `hsu down` from it.
  const deployment = await loadDeployment(requireSpecFile(file), { environment: false });
  return { socket: deployment.master.controlSocket, deployment };
}

/**
 * The typed control client the CLI (and any user code) uses. Over TCP it
 * sends `token`, or else HSU_CONTROL_TOKEN (an API token from `hsu token
 * create`, a JWT of master.auth.oidc, or the control token), and speaks TLS
 * when given a CA or a client certificate (--ca, --client-cert and
 * --client-key, or HSU_CONTROL_CA, HSU_CONTROL_CERT and HSU_CONTROL_KEY).
 */
export function controlClient(socket: string, token?: string): ControlClient {
  const files = controlTlsFiles();
  if (isAddress(socket)) {
    token ??= controlToken();
    const tls = readControlTls(files);
    return createClient(
      ControlService,
      createUnitTransport(socket, { ...(token ? { token } : {}), ...(tls ? { tls } : {}), connectFailureHints: connectHints(files), connectTimeoutMs: 2000 }),
    );
  }
  if (files.flagged) {
    throw new HsuError("invalid_argument", `--ca, --client-cert and --client-key are for a master's TCP port (--socket HOST:PORT); ${socket} is its Unix socket, which needs no TLS`);
  }
  if (!existsSync(socket)) {
    throw new HsuError("unavailable", `no master is running (no control socket at ${socket}); start one with \`hsu up\` (or \`hsu up -d\` to run it in the background)`);
  }
  return createClient(ControlService, createUnitTransport(`unix:${socket}`, { connectTimeoutMs: 2000 }));
}

/**
 * The control client for the master that --socket, HSU_CONTROL or hsu.yaml
 * names ({@link masterSocket}); `local` when it runs on this host.
 */
export async function connect(values: { file?: unknown; socket?: unknown }): Promise<{ c: ControlClient; local: boolean }> {
  const path = masterSocket(values);
  return { c: controlClient(path), local: !isAddress(path) };
}
