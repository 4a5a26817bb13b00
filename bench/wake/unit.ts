// The echo unit, instrumented for the wake benchmark: it writes when its
// process started (performance.timeOrigin) and when it began listening, as
// epoch milliseconds, to the file named by BENCH_TIMES_FILE.
import { writeFileSync } from "node:fs";
import { serveUnit, unitService } from "@hsu/server";
import { EchoService } from "../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";

const unitId = process.env.HSU_UNIT_ID ?? "wake-echo";
const timesFile = process.env.BENCH_TIMES_FILE;
const origin = performance.timeOrigin;

await serveUnit({
  name: "wake-echo",
  services: [unitService(EchoService, { echo: (req) => ({ message: req.message, unitId }) })],
  log(line) {
    // serveUnit logs "serving on" right after the listener is bound, before the handshake.
    if (timesFile && line.includes(" serving on ")) {
      writeFileSync(timesFile, JSON.stringify({ origin, listenAt: performance.timeOrigin + performance.now() }));
    }
    process.stderr.write(`[hsu] ${line}\n`);
  },
});
