// Run by control/listen.test.ts in a process of its own (the test runner has node:http loaded
// already): serves the control API's server (listenControl) with grpc.health.v1 on the socket
// given as argv[2], makes unary calls and then one stream, and prints which of Node's modules
// were loaded after each, as JSON.
//   node --conditions=@hsu/source control-modules.ts <socket path>
import { createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { listenControl } from "../control/listen.ts";

// Node's own list of what it loaded (not in @types/node).
const moduleLoadList = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
const loaded = (names: string[]) => names.filter((m) => moduleLoadList.includes(`NativeModule ${m}`));
// (node:http itself comes with node:http2, by require: no ES module facade, so no fetch behind it.)
const heavy = ["zlib", "https", "internal/deps/undici/undici"];
const socketPath = process.argv[2]!;
const control = await listenControl({
  socketPath,
  routes: (r) =>
    r.service(Health, {
      check: () => ({ status: Status.SERVING }),
      async *watch() {
        yield { status: Status.NOT_SERVING };
      },
    }),
});
const before = loaded(heavy);
const c = createClient(Health, createUnitTransport(`unix:${socketPath}`));
const unary = [(await c.check({})).status, (await c.check({ service: "x" })).status];
const afterUnary = loaded(heavy);
const stream: Status[] = [];
for await (const m of c.watch({})) stream.push(m.status);
const afterStream = loaded(["zlib", "https"]);
await control.close();
process.stdout.write(JSON.stringify({ before, unary, afterUnary, stream, afterStream }));
process.exit(0);
