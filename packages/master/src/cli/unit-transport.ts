import type { Transport } from "@connectrpc/connect";
import { createUnitTransport } from "@hsu/transport";

/**
 * A transport that calls a unit THROUGH the master: every call goes to the
 * master's control socket with `hsu-unit: <id>` metadata, and the master
 * forwards it (waking the unit first when it is started on demand).
 */
export function unitTransport(controlSocket: string, unit: string): Transport {
  return createUnitTransport(`unix:${controlSocket}`, {
    interceptors: [
      (next) => (req) => {
        req.header.set("hsu-unit", unit);
        return next(req);
      },
    ],
  });
}
