// A tiny master: start the echo unit, wait for its handshake, call it,
// check its health, and shut it down.
import { createClient } from "@connectrpc/connect";
import { createRegistrar, launchUnit } from "@hsu/client";
import { fileURLToPath } from "node:url";
import { EchoService } from "./gen/hsu/examples/echo/v1/echo_pb.js";

const registrar = await createRegistrar();
const unit = await launchUnit({
  id: "echo-1",
  command: process.execPath,
  args: ["--conditions=@hsu/source", fileURLToPath(new URL("./unit.ts", import.meta.url))],
  registrar,
  listen: process.argv[2] ?? "unix",
});
console.log(`handshake: ${unit.info.unitId} (pid ${unit.info.pid}) on ${unit.info.address}`);
console.log(`serves: ${unit.info.services.join(", ")}`);
const echo = createClient(EchoService, unit.client.transport);
const reply = await echo.echo({ message: "hello from the master" });
console.log(`echo: "${reply.message}" from ${reply.unitId}`);
console.log(`health: ${(await unit.client.serving()) ? "SERVING" : "NOT_SERVING"}`);
const { code, signal } = await unit.stop(2000);
console.log(`stopped: exit ${signal ?? code}`);
await registrar.close();
