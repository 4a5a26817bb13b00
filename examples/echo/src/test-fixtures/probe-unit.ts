// A test unit that lets a test see how it is stopped and judged: it serves Echo,
// prints every signal it gets, turns NOT_SERVING on SIGUSR1, and - breaking the
// contract on purpose - does not exit after a Shutdown: only a signal ends it
// (PROBE_IGNORE="SIGTERM,..." lists signals it prints and otherwise ignores).
// An Echo of "hog" makes it hold 256 MiB (for memory limit tests); an Echo of
// "hold" prints "holding" and never answers (a call known to be in flight).
import { serveUnit, unitService } from "@hsu/server";
import { EchoService } from "../gen/hsu/examples/echo/v1/echo_pb.js";

const unitId = process.env.HSU_UNIT_ID ?? "probe";
const ignore = new Set((process.env.PROBE_IGNORE ?? "").split(",").filter(Boolean));

const hoard: Buffer[] = [];
const running = await serveUnit({
  name: "probe",
  handleSignals: false,
  exitProcess: false,
  services: [
    unitService(EchoService, {
      echo: async (req) => {
        if (req.message === "hold") {
          console.log("holding");
          await new Promise(() => {});
        }
        if (req.message === "hog") for (let i = 0; i < 16; i++) hoard.push(Buffer.alloc(16 << 20, 1));
        return { message: req.message, unitId };
      },
    }),
  ],
});
console.log(`probe ${unitId} pid ${process.pid} serving at ${running.address}`);
process.on("SIGUSR1", () => {
  console.log("got SIGUSR1: NOT_SERVING");
  running.setHealth("", false);
});
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2", "SIGQUIT"] as const) {
  process.on(sig, () => {
    console.log(`got ${sig}`);
    if (!ignore.has(sig)) process.exit(0);
  });
}
void running.stopped.then((s) => console.log(`drained: ${s.reason}`));
// Stays alive after a drain: the master has to escalate to a signal.
setInterval(() => {}, 1 << 30);
