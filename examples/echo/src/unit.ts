// The echo unit: a complete HSU unit in TypeScript.
import { serveUnit, unitService } from "@hsu/server";
import { setTimeout as sleep } from "node:timers/promises";
import { EchoService } from "./gen/hsu/examples/echo/v1/echo_pb.js";

const unitId = process.env.HSU_UNIT_ID ?? "echo";

await serveUnit({
  name: "echo",
  version: "0.1.0",
  listen: process.argv[2],
  services: [
    unitService(EchoService, {
      async echo(req, ctx) {
        if (req.delayMs > 0) await sleep(req.delayMs, undefined, { signal: ctx.signal });
        return { message: req.message, unitId };
      },
    }),
  ],
});
