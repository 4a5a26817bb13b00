// The server under test for `connectconformance --mode server`: reads one
// ServerCompatRequest from stdin, serves the conformance service on the real
// unit path (serveUnit, standalone, h2c on 127.0.0.1, a free port), and writes
// the ServerCompatResponse (host, port) to stdout. The runner stops it with
// SIGTERM; serveUnit drains and exits.
//
//   node --conditions=@hsu/source server-under-test.ts --fast-unary=on|off
import { create } from "@bufbuild/protobuf";
import { serveUnit } from "@hsu/server";
import { parseAddress } from "@hsu/transport";
import { conformanceService } from "./conformance-service.ts";
import { HTTPVersion } from "./gen/connectrpc/conformance/v1/config_pb.js";
import { ServerCompatRequestSchema, ServerCompatResponseSchema } from "./gen/connectrpc/conformance/v1/server_compat_pb.js";
import { readDelimited, writeDelimited } from "./stdio.ts";

function fastUnaryFlag(argv: readonly string[]): boolean {
  const flag = argv.find((a) => a.startsWith("--fast-unary="));
  if (flag === "--fast-unary=on") return true;
  if (flag === "--fast-unary=off") return false;
  throw new Error(`expected --fast-unary=on or --fast-unary=off, got ${flag === undefined ? "neither" : flag}`);
}

async function main(): Promise<void> {
  const fastUnary = fastUnaryFlag(process.argv.slice(2));
  let request;
  for await (const message of readDelimited(process.stdin, ServerCompatRequestSchema)) {
    request = message;
    break;
  }
  if (request === undefined) throw new Error("stdin ended before a ServerCompatRequest came");
  // serveUnit speaks h2c only: a request for TLS or HTTP/1.1 or HTTP/3 is a config error here.
  if (request.useTls) throw new Error("TLS asked for, but serveUnit serves h2c only (config/server.yaml says so)");
  if (request.httpVersion !== HTTPVersion.HTTP_VERSION_2) {
    throw new Error(`HTTP version ${HTTPVersion[request.httpVersion]} asked for, but serveUnit serves HTTP/2 only`);
  }
  const unit = await serveUnit({
    name: "conformance",
    services: [conformanceService()],
    listen: "127.0.0.1:0",
    // Standalone: nothing from the runner's environment may turn this into a managed unit.
    env: {},
    fastUnary,
    // 0 means no limit asked; serveUnit then keeps its default.
    readMaxBytes: request.messageReceiveLimit > 0 ? request.messageReceiveLimit : undefined,
    handleSignals: true,
    exitProcess: true,
    log: (line) => process.stderr.write(`[server-under-test] ${line}\n`),
  });
  const address = parseAddress(unit.address);
  if (address.kind !== "tcp") throw new Error(`expected a TCP address, got ${unit.address}`);
  await writeDelimited(process.stdout, ServerCompatResponseSchema, create(ServerCompatResponseSchema, { host: address.host, port: address.port }));
}

main().catch((e: unknown) => {
  process.stderr.write(`[server-under-test] ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
