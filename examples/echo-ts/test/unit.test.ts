// Starts the unit in this process on a free port and calls it, the way a
// master would. Run with `npm test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CoreService } from "@hsu/proto";
import { serveUnit } from "@hsu/server";
import { EchoService } from "../src/gen/hsu/examples/echo/v1/echo_pb.js";
import { services } from "../src/hsu-services.js";

test("the unit answers Ping, lists its services and echoes", async () => {
  const unit = await serveUnit({
    name: "echo-ts",
    services,
    env: { HSU_LISTEN: "127.0.0.1:0" },
    handleSignals: false,
    exitProcess: false,
    log: () => {},
  });
  try {
    const transport = createGrpcTransport({ baseUrl: `http://${unit.address}` });
    const core = createClient(CoreService, transport);
    const pong = await core.ping({});
    assert.equal(pong.unitId, "echo-ts");
    const { info } = await core.getInfo({});
    assert.ok(info?.services.includes("hsu.examples.echo.v1.EchoService"));
    const echo = createClient(EchoService, transport);
    const answer = await echo.echo({ message: "hi", delayMs: 10 });
    assert.equal(answer.message, "hi");
  } finally {
    await unit.shutdown(1000);
  }
});
