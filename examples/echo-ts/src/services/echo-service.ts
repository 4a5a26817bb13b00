import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { EchoService } from "../gen/hsu/examples/echo/v1/echo_pb.js";

// The id the master gave this unit; standalone, the unit's name.
const unitId = process.env["HSU_UNIT_ID"] || "echo-ts";

/**
 * Implements hsu.examples.echo.v1.EchoService: answers the message and this
 * unit's id after `delay_ms`. The wait ends early when the call is cancelled
 * (client gone, or the unit's drain deadline passed), so a stopping unit
 * never hangs on it.
 */
export const echoService: ServiceImpl<typeof EchoService> = {
  async echo(request, context) {
    if (request.delayMs > 0) {
      try {
        await sleep(request.delayMs, undefined, { signal: context.signal });
      } catch (cause) {
        throw new ConnectError(`echo cancelled after less than ${request.delayMs} ms`, Code.Canceled, undefined, undefined, cause);
      }
    }
    return { message: request.message, unitId };
  },
  // hsu:new-rpc-stubs (keep this line: stubs for new RPCs go above it)
};
