// A real HSU unit for proxy tests: its Echo answers with every request header
// it received (JSON), so a test sees exactly what the master forwarded.
import { serveUnit, unitService } from "@hsu/server";
import { EchoService } from "../gen/hsu/examples/echo/v1/echo_pb.js";

const unitId = process.env.HSU_UNIT_ID ?? "headers";

await serveUnit({
  name: "headers",
  version: "0.1.0",
  services: [
    unitService(EchoService, {
      echo(_req, ctx) {
        const seen: Record<string, string> = {};
        ctx.requestHeader.forEach((value, key) => (seen[key] = value));
        return { message: JSON.stringify(seen), unitId };
      },
    }),
  ],
});
