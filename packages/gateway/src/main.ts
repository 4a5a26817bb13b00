// The hsu-gateway executable: reads its config (HSU_GATEWAY_CONFIG or --config),
// loads the descriptor sets, listens, and calls units through the master's
// control socket (HSU_CONTROL_SOCKET or --control-socket).
import { watchTls, type TlsWatcher } from "@hsu/transport";
import { parseArgs } from "node:util";
import { loadGatewayConfig, GatewayConfigError, type GatewayConfig } from "./config.ts";
import { connectProtocol } from "./connect.ts";
import { DescriptorError, loadRoutes } from "./descriptors.ts";
import { grpcWebProtocol } from "./grpc-web.ts";
import type { Protocol } from "./protocol.ts";
import { createGatewayServer } from "./server.ts";
import { attachToMaster } from "./direct.ts";
import { createUpstream } from "./upstream.ts";
import { buildRoutes, openApiDocument, restProtocol, RouteError, type RouteTable } from "./rest/index.ts";
import { openApiProtocol } from "./openapi-route.ts";

/** How long in-flight requests may take to finish at SIGTERM. */
const DRAIN_MS = Number(process.env.HSU_GATEWAY_DRAIN_MS ?? 10_000);

function fail(message: string, code = 2): never {
  process.stderr.write(`hsu-gateway: ${message}\n`);
  process.exit(code);
}

let args: { config?: string; "control-socket"?: string; help?: boolean };
try {
  args = parseArgs({ options: { config: { type: "string" }, "control-socket": { type: "string" }, help: { type: "boolean", short: "h" } } }).values;
} catch (e) {
  fail(`${(e as Error).message}\nusage: hsu-gateway [--config gateway.json] [--control-socket PATH]`);
}
if (args.help) {
  process.stdout.write("usage: hsu-gateway [--config gateway.json] [--control-socket PATH]\n(the master sets HSU_GATEWAY_CONFIG and HSU_CONTROL_SOCKET instead; see docs/gateway.md)\n");
  process.exit(0);
}
const configFile = args.config ?? process.env.HSU_GATEWAY_CONFIG;
const socketPath = args["control-socket"] ?? process.env.HSU_CONTROL_SOCKET;
if (!configFile) fail("no config: set HSU_GATEWAY_CONFIG or pass --config gateway.json (the master sets it for a unit with a gateway: block)");
if (!socketPath) fail("no master to call: set HSU_CONTROL_SOCKET or pass --control-socket PATH (the master's control socket)");

let config: GatewayConfig;
let loaded: ReturnType<typeof loadRoutes>;
let tls: TlsWatcher | undefined;
let table: RouteTable;
try {
  config = loadGatewayConfig(configFile);
  loaded = loadRoutes(config.routes);
  // Reloaded when the files change (a renewal); a broken replacement is logged and the last good pair kept.
  tls = config.tls
    ? watchTls(config.tls, {
        onReload: (e) =>
          process.stdout.write(
            e.ok
              ? `gateway TLS: now serving ${e.loaded.files.certFile} (sha256 ${e.loaded.certificate.fingerprint256}, valid to ${e.loaded.certificate.validTo})\n`
              : `gateway TLS: kept the previous certificate: ${e.error.message}\n`,
          ),
      })
    : undefined;
  table = buildRoutes(loaded.services);
} catch (e) {
  if (e instanceof GatewayConfigError || e instanceof DescriptorError || e instanceof RouteError) fail(e.message);
  fail((e as Error).message);
}

// Run by a master (HSU_UNIT_ID set): calls it has authorized go to the unit directly (direct.ts);
// HSU_GATEWAY_DIRECT=0 sends every call through the master.
const unitId = process.env.HSU_UNIT_ID;
const direct = unitId && process.env.HSU_GATEWAY_DIRECT !== "0" ? attachToMaster({ socketPath, unit: unitId, log: (line) => process.stdout.write(`${line}\n`) }) : undefined;
const upstream = createUpstream({ socketPath, ...(direct ? { direct } : {}) });
const protocols: Protocol[] = [
  ...(config.openapi ? [openApiProtocol(config.openapi, () => openApiDocument(table.routes, { title: "HSU gateway" }))] : []),
  connectProtocol(),
  grpcWebProtocol(),
  // REST last: Connect and gRPC-Web paths win; a path no route knows gets REST's JSON 404.
  restProtocol({ table, notFound: "answer" }),
];
for (const m of table.skipped) process.stdout.write(`gateway: ${m.method.parent.typeName}/${m.method.name} is not served as REST (${m.reason}); call it with the Connect protocol\n`);
const server = createGatewayServer({ config, protocols, upstream, registry: loaded.registry, services: loaded.services, ...(tls ? { tls } : {}) });
let url: string;
try {
  url = await server.listen();
} catch (e) {
  fail(`cannot listen on ${config.listen}: ${(e as Error).message}`, 1);
}
const routes = loaded.services.map((s) => `${s.prefix}/${s.service.typeName} -> ${s.unit}`).join(", ");
process.stdout.write(`gateway listening on ${url} (HTTP/1.1 and HTTP/2${config.tls ? ", TLS" : ""}); routes: ${routes}\n`);

let stopping = false;
async function stop(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`gateway stopping (${why}); ${server.inFlight} request(s) in flight\n`);
  await server.close(DRAIN_MS);
  tls?.close();
  upstream.close();
  process.exit(0);
}
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));

// Master death (docs/unit-contract.md): with HSU_MASTER_PID set, the gateway goes when the master does.
const masterPid = Number(process.env.HSU_MASTER_PID);
if (Number.isInteger(masterPid) && masterPid > 0) {
  const watch = setInterval(() => {
    try {
      process.kill(masterPid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ESRCH") {
        clearInterval(watch);
        void stop(`the master (pid ${masterPid}) is gone`);
      }
    }
  }, 1000);
  watch.unref();
}
