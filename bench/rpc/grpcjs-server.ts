// A grpc-js server answering Echo and Ping like the TS echo unit does, for
// the side-by-side run. Usage: grpcjs-server.ts <unix:/path | 127.0.0.1:0>.
// Prints "listening <address>" once bound; exits on SIGTERM or when stdin closes.
import * as grpc from "@grpc/grpc-js";
import * as protobuf from "@bufbuild/protobuf";
import { PingResponseSchema } from "@hsu/proto";
import { EchoResponseSchema } from "../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { benchDefinition } from "./service.ts";

const address = process.argv[2];
if (!address) throw new Error("usage: grpcjs-server.ts <unix:/path | host:port>");
const unitId = "grpcjs";
const server = new grpc.Server();
server.addService(benchDefinition, {
  echo: (call: grpc.ServerUnaryCall<{ message: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
    cb(null, protobuf.create(EchoResponseSchema, { message: call.request.message, unitId })),
  ping: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
    cb(null, protobuf.create(PingResponseSchema, { unitId })),
});
server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  const bound = address.startsWith("unix:") ? address : address.replace(/:0$/, `:${port}`);
  process.stdout.write(`listening ${bound}\n`);
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.once("SIGTERM", stop);
process.stdin.on("end", stop).resume();
