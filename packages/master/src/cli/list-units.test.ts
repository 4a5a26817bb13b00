// The quick ListUnits path of `hsu ps` (list-units.ts) against the generated code and a real
// gRPC server (connect-node on node:http2, as the master serves): it reads every field as
// `fromBinary` does, and gives up (so the full client explains) on anything else.
import { create, fromBinary, toBinary, type DescField } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ControlService, ListUnitsResponseSchema, UnitStatusSchema, type UnitStatus } from "@hsu/proto";
import { listenH2c } from "@hsu/transport";
import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeListUnits, QuickCallFailed, quickListUnits } from "./list-units.ts";

const tmp = mkdtempSync(join(tmpdir(), "hsu-lu-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A non-default value for every field of UnitStatus, whatever fields it has: a new field fails the test until list-units.ts reads it. */
function everyField(seed: number): UnitStatus {
  const u = create(UnitStatusSchema) as unknown as Record<string, unknown>;
  for (const f of UnitStatusSchema.fields as DescField[]) {
    if (f.fieldKind === "message") u[f.localName] = { $typeName: "google.protobuf.Timestamp", seconds: BigInt(1_700_000_000 + seed), nanos: 123_000_000 + seed };
    else if (f.fieldKind === "enum") u[f.localName] = f.enum.values.at(-1)!.number;
    else if (f.fieldKind !== "scalar") throw new Error(`UnitStatus.${f.name} is a ${f.fieldKind}: teach list-units.ts and this test to read it`);
    else if (typeof u[f.localName] === "string") u[f.localName] = `${f.name} ${seed} ✓`;
    else if (typeof u[f.localName] === "boolean") u[f.localName] = true;
    else if (typeof u[f.localName] === "bigint") u[f.localName] = 2n ** 40n + BigInt(seed);
    else if (f.name === "cpu_percent") u[f.localName] = 12.5 + seed;
    else u[f.localName] = f.name === "pid" ? 2_000_000_000 : 4_000_000_000;
  }
  return u as unknown as UnitStatus;
}

describe("decodeListUnits", () => {
  it("reads a reply with every field of UnitStatus set exactly as fromBinary of the generated schema does", () => {
    const bytes = toBinary(ListUnitsResponseSchema, create(ListUnitsResponseSchema, { units: [everyField(1), everyField(2), create(UnitStatusSchema, { id: "bare" })] }));
    expect(decodeListUnits(bytes)).toEqual(fromBinary(ListUnitsResponseSchema, bytes));
  });

  it("reads an empty reply as no units", () => {
    expect(decodeListUnits(new Uint8Array())).toEqual(fromBinary(ListUnitsResponseSchema, new Uint8Array()));
  });

  it("skips a field a newer master adds, and merges a timestamp sent twice, as protobuf requires", () => {
    const w = new BinaryWriter();
    w.tag(1, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string("a");
    w.tag(99, WireType.LengthDelimited).string("from the future");
    w.tag(5, WireType.LengthDelimited).fork().tag(1, WireType.Varint).int64(10).join();
    w.tag(5, WireType.LengthDelimited).fork().tag(2, WireType.Varint).int32(7).join();
    w.join();
    w.tag(7, WireType.Varint).uint32(1);
    const [u] = decodeListUnits(w.finish()).units;
    expect(u!.id).toBe("a");
    expect(u!.startedAt).toEqual({ $typeName: "google.protobuf.Timestamp", seconds: 10n, nanos: 7 });
  });

  it("refuses a reply cut short or whose unit overruns its length", () => {
    const bytes = toBinary(ListUnitsResponseSchema, create(ListUnitsResponseSchema, { units: [everyField(3)] }));
    for (const cut of [1, 2, 10, bytes.length - 1]) expect(() => decodeListUnits(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow();
    // A UnitStatus of length 2 whose one field is 5 bytes long.
    expect(() => decodeListUnits(Uint8Array.of(0x0a, 2, 0x0a, 5, 0x61, 0x62, 0x63, 0x64, 0x65))).toThrow();
  });
});

async function serve(name: string, routes: (router: ConnectRouter) => void) {
  const path = join(tmp, `${name}.sock`);
  const listener = await listenH2c(`unix:${path}`, connectNodeAdapter({ routes }));
  return { path, close: () => listener.close() };
}

describe("quickListUnits", () => {
  it("gets the units from a gRPC server, over a Unix socket and over TCP", async () => {
    const units = [everyField(1), everyField(2)];
    const s = await serve("ok", (r) => r.service(ControlService, { listUnits: () => ({ units }) } as never));
    try {
      expect(await quickListUnits(s.path, false)).toEqual(units);
    } finally {
      await s.close();
    }
    const tcp = await listenH2c("127.0.0.1:0", connectNodeAdapter({ routes: (r) => r.service(ControlService, { listUnits: () => ({ units }) } as never) }));
    try {
      expect(await quickListUnits(tcp.address.replace(/^tcp:\/\//, ""), true)).toEqual(units);
    } finally {
      await tcp.close();
    }
  });

  it("gives up on an error status, a missing socket, a peer that is not HTTP/2 and one that never answers", async () => {
    const denied = await serve("denied", (r) =>
      r.service(ControlService, { listUnits: () => { throw new ConnectError("no", Code.PermissionDenied); } } as never),
    );
    const unimplemented = await serve("unimpl", () => {});
    const junk = join(tmp, "junk.sock");
    const junkServer = net.createServer((c) => c.end("HTTP/1.1 400 Bad Request\r\n\r\n")).listen(junk);
    const mute = join(tmp, "mute.sock");
    const held: net.Socket[] = [];
    const muteServer = net.createServer((c) => held.push(c)).listen(mute);
    try {
      for (const [what, call] of [
        ["PERMISSION_DENIED", () => quickListUnits(denied.path, false)],
        ["UNIMPLEMENTED", () => quickListUnits(unimplemented.path, false)],
        ["no socket", () => quickListUnits(join(tmp, "none.sock"), false)],
        ["not HTTP/2", () => quickListUnits(junk, false)],
        ["silent peer", () => quickListUnits(mute, false, 300)],
        ["refused TCP port", () => quickListUnits("127.0.0.1:1", true)],
      ] as const) {
        await expect(call(), what).rejects.toBeInstanceOf(QuickCallFailed);
      }
    } finally {
      await denied.close();
      await unimplemented.close();
      for (const c of held) c.destroy();
      junkServer.close();
      muteServer.close();
    }
  });
});
