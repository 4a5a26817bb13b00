// The client under test for `connectconformance --mode client`: HSU's unit
// transport (createUnitTransport, the transport a master uses) calling the
// suite's reference servers. The runner writes ClientCompatRequest messages
// to stdin; each one is run at once, concurrently with the others, and its
// ClientCompatResponse written to stdout when it is done (docs/testing_clients.md
// of connectrpc.com/conformance). At the end of stdin, it waits for the calls
// in flight, then exits.
//
//   node --conditions=@hsu/source client-under-test.ts --fast-unary=on|off
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createUnitTransport, formatAddress } from "@hsu/transport";
import {
  ClientCompatRequestSchema,
  ClientCompatResponseSchema,
  ClientErrorResultSchema,
  type ClientCompatRequest,
  type ClientCompatResponse,
} from "./gen/connectrpc/conformance/v1/client_compat_pb.js";
import { Codec, Compression, HTTPVersion, Protocol } from "./gen/connectrpc/conformance/v1/config_pb.js";
import { ConformanceService } from "./gen/connectrpc/conformance/v1/service_pb.js";
import { HarnessError, invoke } from "./client-invoke.ts";
import { readDelimited, writeDelimited } from "./stdio.ts";
import type { Readable, Writable } from "node:stream";

/** Parses `--fast-unary=on|off` (required: each run says which path it tests). */
export function parseFastUnary(argv: readonly string[]): boolean {
  const flags = argv.filter((a) => a.startsWith("--fast-unary="));
  const value = flags.length === 1 ? flags[0]!.slice("--fast-unary=".length) : undefined;
  if (value === "on") return true;
  if (value === "off") return false;
  throw new HarnessError(`usage: client-under-test.ts --fast-unary=on|off (got ${JSON.stringify(argv)})`);
}

/** What createUnitTransport cannot do; config/client.yaml keeps such cases away, this says so if one comes. */
function unsupported(request: ClientCompatRequest): string | undefined {
  if (request.httpVersion !== HTTPVersion.HTTP_VERSION_2) return `HTTP version ${HTTPVersion[request.httpVersion]} (the unit transport speaks HTTP/2 only)`;
  if (request.protocol !== Protocol.GRPC) return `protocol ${Protocol[request.protocol]} (the unit transport speaks gRPC only)`;
  if (request.codec !== Codec.PROTO) return `codec ${Codec[request.codec]} (the unit transport sends proto only)`;
  if (request.compression !== Compression.IDENTITY && request.compression !== Compression.UNSPECIFIED) {
    return `compression ${Compression[request.compression]} (the unit transport does not compress)`;
  }
  if (request.serverTlsCert.length > 0 || request.clientTlsCreds !== undefined) return "TLS (the unit transport speaks cleartext HTTP/2 only)";
  return undefined;
}

/** Runs one test case through a transport of its own; never rejects. */
export async function runCase(request: ClientCompatRequest, fastUnary: boolean): Promise<ClientCompatResponse> {
  const harnessError = (message: string): ClientCompatResponse =>
    create(ClientCompatResponseSchema, {
      testName: request.testName,
      result: { case: "error", value: create(ClientErrorResultSchema, { message }) },
    });
  const reason = unsupported(request);
  if (reason !== undefined) return harnessError(`cannot run this case: ${reason}`);
  try {
    const transport = createUnitTransport(formatAddress({ kind: "tcp", host: request.host, port: request.port }), {
      fastUnary,
      ...(request.messageReceiveLimit > 0 ? { readMaxBytes: request.messageReceiveLimit } : {}),
    });
    const result = await invoke(createClient(ConformanceService, transport), request);
    return create(ClientCompatResponseSchema, { testName: request.testName, result: { case: "response", value: result } });
  } catch (e) {
    // invoke() records every RPC error in the result; what lands here is a
    // problem of this program (a request it cannot make), never the transport's.
    return harnessError(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  }
}

/** Reads every request on `input`, runs them concurrently, writes each response (one at a time) on `output`. */
export async function serve(input: Readable, output: Writable, fastUnary: boolean): Promise<void> {
  let writes: Promise<void> = Promise.resolve();
  const inFlight: Promise<void>[] = [];
  for await (const request of readDelimited(input, ClientCompatRequestSchema)) {
    inFlight.push(
      runCase(request, fastUnary).then((response) => {
        writes = writes.then(() => writeDelimited(output, ClientCompatResponseSchema, response));
        return writes;
      }),
    );
  }
  await Promise.all(inFlight);
  await writes;
}

if (import.meta.main) {
  const fastUnary = parseFastUnary(process.argv.slice(2));
  await serve(process.stdin, process.stdout, fastUnary);
  // The transports keep their idle HTTP/2 connections open (there is no way to
  // close a unit transport); every result is written, so leave now.
  process.exit(0);
}
