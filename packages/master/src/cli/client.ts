import { createClient, type Client } from "@connectrpc/connect";
import { HsuError } from "@hsu/client/errors";
import { isControlAddress, locateMaster } from "@hsu/client/locate";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { Deployment } from "../config/index.ts";

/** The typed client of a master's control API. */
export type ControlClient = Client<typeof ControlService>;

/** The spec file's path, or an error that says where hsu looked and how to point it elsewhere. */
export function requireSpecFile(file: string): string {
  if (existsSync(file)) return file;
  const where = file === "hsu.yaml" ? `no hsu.yaml in ${process.cwd()}` : `no spec file at ${resolve(file)}`;
  throw new HsuError("not_found", `${where}; run hsu in your project's directory or name the file with -f path/to/hsu.yaml`);
}

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

/** The typed control client the CLI (and any user code) uses. */
export function controlClient(socket: string, token?: string): ControlClient {
  if (isAddress(socket)) {
    return createClient(ControlService, createUnitTransport(socket, { ...(token ? { token } : {}), connectTimeoutMs: 2000 }));
  }
  if (!existsSync(socket)) {
    throw new HsuError("unavailable", `no master is running (no control socket at ${socket}); start one with \`hsu up\` (or \`hsu up -d\` to run it in the background)`);
  }
  return createClient(ControlService, createUnitTransport(`unix:${socket}`, { connectTimeoutMs: 2000 }));
}

/**
 * The control client for the master that --socket, HSU_CONTROL or hsu.yaml
 * names; `local` when it runs on this host. Only the master's place is read
 * from hsu.yaml (`locateMaster`: `master.state_dir` and
 * `master.control.socket`, by the same `masterPaths` rule as the loader), so
 * `hsu ps` neither loads nor runs the spec's validators.
 */
export async function connect(values: { file?: unknown; socket?: unknown }): Promise<{ c: ControlClient; local: boolean }> {
  const socket = values.socket as string | undefined;
  let path: string;
  if (socket || process.env.HSU_CONTROL) path = locateMaster(socket ? { socket } : {}).socket;
  else {
    const file = requireSpecFile(String(values.file));
    // A FIFO or a directory named hsu.yaml must not hang or confuse the read: `hsu validate` explains it.
    if (!statSync(file).isFile()) throw new HsuError("invalid_config", "not a regular file; `hsu validate` says more", { file });
    path = locateMaster({ file }).socket;
  }
  return { c: controlClient(path), local: !isAddress(path) };
}
