import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CONTROL_SOCKET_ENV, GATEWAY_CONFIG_ENV, type GatewaySpec } from "../config/gateway.ts";

/**
 * Writes a gateway unit's normalized config to `<state_dir>/gateway/<unit>.json`
 * (0600, whole: temp file then rename) and returns the environment that points
 * the gateway at it and at the master's control socket.
 */
export function writeGatewayConfig(stateDir: string, unit: string, spec: GatewaySpec, controlSocket: string): Record<string, string> {
  const dir = join(stateDir, "gateway");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = join(dir, `${unit}.json`);
  const tmp = join(dir, `.${unit}.json.tmp`);
  writeFileSync(tmp, `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return { [GATEWAY_CONFIG_ENV]: file, [CONTROL_SOCKET_ENV]: controlSocket };
}
