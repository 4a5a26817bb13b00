// The Echo and Ping methods as a hand-built grpc-js service definition that
// encodes with the same protobuf-es schemas the HSU side uses, so both
// stacks put identical bytes on the wire.
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import * as protobuf from "@bufbuild/protobuf";

const { fromBinary, toBinary } = protobuf;
import type { ServiceDefinition } from "@grpc/grpc-js";
import { PingRequestSchema, PingResponseSchema } from "@hsu/proto";
import { EchoRequestSchema, EchoResponseSchema } from "../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";

function method<I extends DescMessage, O extends DescMessage>(path: string, input: I, output: O) {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: MessageShape<I>) => Buffer.from(toBinary(input, m)),
    requestDeserialize: (b: Buffer) => fromBinary(input, b),
    responseSerialize: (m: MessageShape<O>) => Buffer.from(toBinary(output, m)),
    responseDeserialize: (b: Buffer) => fromBinary(output, b),
  };
}

/** Echo (hsu.examples.echo.v1) and Ping (hsu.core.v1) as one grpc-js service definition. */
export const benchDefinition = {
  echo: method("/hsu.examples.echo.v1.EchoService/Echo", EchoRequestSchema, EchoResponseSchema),
  ping: method("/hsu.core.v1.CoreService/Ping", PingRequestSchema, PingResponseSchema),
} satisfies ServiceDefinition;

/** The small message every Echo call sends. */
export const echoText = "hello, unit 0001";
