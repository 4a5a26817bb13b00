import type { Transport } from "@connectrpc/connect";
import { masterUnitTransport } from "@hsu/client";

/**
 * A transport that calls a unit THROUGH the master: every call goes to the
 * master's control socket with `hsu-unit: <id>` metadata, and the master
 * forwards it (waking the unit first when it is started on demand).
 * `connectMaster()` of @hsu/client finds the socket by itself.
 */
export function unitTransport(controlSocket: string, unit: string): Transport {
  return masterUnitTransport(controlSocket, unit);
}
