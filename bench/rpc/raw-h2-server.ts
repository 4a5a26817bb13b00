// The raw node:http2 experiment's server process (see raw-h2.ts).
// Usage: raw-h2-server.ts <unix:/path | 127.0.0.1:0>; prints "listening <address>".
import { rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { PingRequestSchema, PingResponseSchema } from "@hsu/proto";
import { EchoRequestSchema, EchoResponseSchema } from "../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { createRawH2Server, rawMethod } from "./raw-h2.ts";
import * as protobuf from "@bufbuild/protobuf";

const address = process.argv[2];
if (!address) throw new Error("usage: raw-h2-server.ts <unix:/path | host:port>");
const unitId = "raw-h2";
const server = createRawH2Server({
  "/hsu.examples.echo.v1.EchoService/Echo": rawMethod(EchoRequestSchema, EchoResponseSchema, (req) =>
    protobuf.create(EchoResponseSchema, { message: req.message, unitId }),
  ),
  "/hsu.core.v1.CoreService/Ping": rawMethod(PingRequestSchema, PingResponseSchema, () => protobuf.create(PingResponseSchema, { unitId })),
});
const onListening = () => {
  const bound = address.startsWith("unix:") ? address : `127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.stdout.write(`listening ${bound}\n`);
};
if (address.startsWith("unix:")) {
  rmSync(address.slice(5), { force: true });
  server.listen(address.slice(5), onListening);
} else {
  server.listen(Number(address.split(":")[1]), address.split(":")[0], onListening);
  server.on("connection", (s: import("node:net").Socket) => s.setNoDelay(true));
}
const stop = () => server.close(() => process.exit(0));
process.once("SIGTERM", stop);
process.stdin.on("end", stop).resume();
