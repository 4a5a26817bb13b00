// The echo unit run from source (node --conditions=@hsu/source): the wake
// benchmark's "ts-source" kind, beside examples/echo-ts as tsc and the
// template's build leave it.
import { serveUnit, unitService } from "@hsu/server";
import { EchoService } from "../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";

const unitId = process.env.HSU_UNIT_ID ?? "wake-echo";

await serveUnit({
  name: "wake-echo",
  services: [unitService(EchoService, { echo: (req) => ({ message: req.message, unitId }) })],
});
