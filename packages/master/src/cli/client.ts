import { createClient, type Client } from "@connectrpc/connect";
import { HsuError } from "@hsu/client";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { loadDeployment, type Deployment } from "../config/index.ts";

/** Where the CLI finds the master: --socket, HSU_CONTROL, or hsu.yaml's state dir. */
export async function controlSocketFor(file: string, socket?: string): Promise<{ socket: string; deployment?: Deployment }> {
  if (socket) return { socket: resolve(socket) };
  if (process.env.HSU_CONTROL) return { socket: resolve(process.env.HSU_CONTROL) };
  const deployment = await loadDeployment(file);
  return { socket: deployment.master.controlSocket, deployment };
}

/** The typed control client the CLI (and any user code) uses. */
export function controlClient(socket: string, token?: string): Client<typeof ControlService> {
  if (socket.includes(":") && !socket.startsWith("/")) {
    return createClient(ControlService, createUnitTransport(socket, { ...(token ? { token } : {}), connectTimeoutMs: 2000 }));
  }
  if (!existsSync(socket)) {
    throw new HsuError("unavailable", `no master is running (no control socket at ${socket}); start one with \`hsu up\``);
  }
  return createClient(ControlService, createUnitTransport(`unix:${socket}`, { connectTimeoutMs: 2000 }));
}
