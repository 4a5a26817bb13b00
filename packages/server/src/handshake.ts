import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { UnitInfo } from "@hsu/proto/gen/hsu/core/v1/core_pb.js";
import { RegistrationService } from "@hsu/proto/gen/hsu/master/v1/registration_pb.js";
import { createUnitTransport } from "@hsu/transport";
import { setTimeout as sleep } from "node:timers/promises";

/** A connection to the master, opened before the unit listens so the handshake does not wait for it. */
export interface MasterLink {
  /**
   * Registers the unit (the handshake). UNAVAILABLE is retried with backoff
   * for up to `retryForMs` (the master may still be binding); anything else
   * fails at once.
   */
  register(info: UnitInfo, retryForMs?: number): Promise<void>;
}

/** Starts connecting to the master at `masterAddress` now; see {@link MasterLink}. */
export function connectMaster(masterAddress: string, token: string | undefined): MasterLink {
  const transport = createUnitTransport(masterAddress, { ...(token ? { token } : {}), connectTimeoutMs: 2000, eagerConnect: true });
  const client = createClient(RegistrationService, transport);
  return {
    async register(info, retryForMs = 10_000) {
      const until = Date.now() + retryForMs;
      for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
        try {
          await client.register({ info }, { timeoutMs: 5000 });
          return;
        } catch (e) {
          const err = ConnectError.from(e);
          if (err.code !== Code.Unavailable || Date.now() + delay > until) throw err;
          await sleep(delay);
        }
      }
    },
  };
}
