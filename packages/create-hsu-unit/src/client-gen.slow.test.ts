import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientsFileName } from "./client-gen.ts";
import { main } from "./main.ts";

// `create-hsu-unit client` in a master's project, then `regen` after the
// unit's proto gained an RPC: the master's code that calls the new RPC
// type-checks only after regen. tsc and node see the repo's @hsu/client
// through node_modules links, as an installed package.
const repo = join(import.meta.dirname, "..", "..", "..");
const root = mkdtempSync(join(tmpdir(), "hsu-client-gen-"));
const unitProto = join(root, "unit", "proto", "shop", "v1", "shop.proto");
const master = join(root, "master");
const proto = (extra: string) => `syntax = "proto3";
package shop.v1;
message Item { string name = 1; }
message Order { repeated Item items = 1; map<string, int32> counts = 2; }
service OrderService {
  rpc Place(Order) returns (Item);
${extra}}
service StockService {
  rpc Watch(Item) returns (stream Item);
}
`;
const link = (name: string, target: string) => {
  mkdirSync(dirname(join(master, "node_modules", name)), { recursive: true });
  symlinkSync(target, join(master, "node_modules", name));
};
const tsc = async (): Promise<string> => {
  try {
    await promisify(execFile)(process.execPath, [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", master], { cwd: master, timeout: 120_000 });
    return "ok";
  } catch (e) {
    return (e as { stdout: string }).stdout;
  }
};
const quiet = async (argv: string[]) => {
  const log = console.log;
  const lines: string[] = [];
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    return { code: await main(argv, master), out: lines.join("\n") };
  } finally {
    console.log = log;
  }
};

beforeAll(() => {
  mkdirSync(dirname(unitProto), { recursive: true });
  writeFileSync(unitProto, proto(""));
  mkdirSync(master, { recursive: true });
  writeFileSync(join(master, "package.json"), JSON.stringify({ name: "m", type: "module" }));
  writeFileSync(join(master, "tsconfig.json"), JSON.stringify({ extends: join(repo, "tsconfig.base.json"), compilerOptions: { types: ["node"], allowJs: false }, include: ["master.ts"] }));
  link("@hsu/client", join(repo, "packages", "client"));
  link("@connectrpc/connect", join(repo, "packages", "client", "node_modules", "@connectrpc", "connect"));
  link("@bufbuild/protobuf", join(repo, "packages", "client", "node_modules", "@bufbuild", "protobuf"));
  link("@types/node", join(repo, "node_modules", "@types", "node"));
  writeFileSync(
    join(master, "master.ts"),
    `import { connectMaster, orderServiceClient, stockServiceClient, type Order } from "./hsu-clients/shop/index.js";
export async function run(): Promise<string> {
  const master = await connectMaster();
  const order: Order = { $typeName: "shop.v1.Order", items: [], counts: { a: 1 } };
  const item = await orderServiceClient(master, "shop").place(order);
  for await (const i of stockServiceClient(master, "stock").watch({ name: item.name })) console.log(i.name);
  const refund = await orderServiceClient(master, "shop").refund({ name: "x" });
  master.close();
  return refund.name;
}
`,
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("create-hsu-unit client, then regen", () => {
  it("generates typed clients for every service, records the proto, and regen types a new RPC", async () => {
    const made = await quiet(["client", "--proto", unitProto]);
    expect(made.code).toBe(0);
    expect(made.out).toContain('import { connectMaster, orderServiceClient } from "./hsu-clients/shop/index.js";   // shop.v1.OrderService');
    expect(made.out).toContain("stockServiceClient");
    expect(JSON.parse(readFileSync(join(master, clientsFileName), "utf8"))).toEqual({ clients: [{ proto: "../unit/proto/shop/v1/shop.proto", out: "hsu-clients/shop" }] });
    for (const f of ["index.js", "index.d.ts", "gen/shop_pb.js", "gen/shop_pb.d.ts"]) expect(existsSync(join(master, "hsu-clients", "shop", f)), f).toBe(true);
    // Refund is not in the proto yet: the master's call to it is a type error, and only that.
    const before = await tsc();
    expect(before).toMatch(/master\.ts\(7,\d+\): error TS2339: Property 'refund' does not exist/);
    expect(before.trim().split("\n")).toHaveLength(1);

    writeFileSync(unitProto, proto("  rpc Refund(Item) returns (Item);\n"));
    const regen = await quiet(["regen"]);
    expect(regen.code).toBe(0);
    expect(regen.out).toContain("Typed client for shop.v1.OrderService, shop.v1.StockService in hsu-clients/shop");
    expect(await tsc()).toBe("ok");

    // And the generated JavaScript loads in plain node, with the descriptors it re-exports.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--conditions=@hsu/source", "-e", 'const m = await import("./hsu-clients/shop/index.js"); console.log(typeof m.connectMaster, typeof m.orderServiceClient, m.OrderService.typeName, Object.keys(m.OrderService.method).join(","))'],
      { cwd: master },
    );
    expect(stdout).toBe("function function shop.v1.OrderService place,refund\n");
  }, 180_000);

  it("a second proto goes beside the first; a proto that is gone, has no service or is missing says so", async () => {
    const other = join(root, "unit", "proto", "other.proto");
    writeFileSync(other, 'syntax = "proto3";\npackage other;\nmessage M {}\n');
    const none = await main(["client", "--proto", other], master);
    expect(none).toBe(1);
    expect((await main(["client"], master))).toBe(2);
    expect(await main(["client", "--proto", join(root, "nope.proto")], master)).toBe(2);
    writeFileSync(other, 'syntax = "proto3";\npackage other;\nmessage M {}\nservice Pinger { rpc Ping(M) returns (M); }\n');
    expect((await quiet(["client", "--proto", other])).code).toBe(0);
    expect(JSON.parse(readFileSync(join(master, clientsFileName), "utf8")).clients.map((c: { out: string }) => c.out)).toEqual(["hsu-clients/shop", "hsu-clients/other"]);
    rmSync(other);
    const errors: string[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => void errors.push(a.join(" "));
    try {
      expect(await main(["regen"], master)).toBe(1);
    } finally {
      console.error = error;
    }
    expect(errors.join("\n")).toContain("the client in hsu-clients/other comes from ../unit/proto/other.proto, which is gone");
  }, 120_000);
});
