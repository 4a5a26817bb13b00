import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { anyPack, AnySchema, DurationSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { buildRegistry } from "../../testdata/descriptors.ts";
import { isRestError, RestError, statusDetails } from "./errors.ts";

describe("RestError", () => {
  it("from a failed call: the grpc-gateway status, and the details of grpc-status-details-bin as JSON", () => {
    const reg = buildRegistry("rest");
    const author = reg.getMessage("hsu.gwtest.v1.Author")!;
    const w = new BinaryWriter();
    w.tag(1, WireType.Varint).int32(5);
    w.tag(2, WireType.LengthDelimited).string("no such book");
    w.tag(3, WireType.LengthDelimited).bytes(toBinary(AnySchema, anyPack(author, create(author, { displayName: "A" } as never))));
    w.tag(3, WireType.LengthDelimited).bytes(toBinary(AnySchema, anyPack(DurationSchema, create(DurationSchema, { seconds: 3n }))));
    w.tag(3, WireType.LengthDelimited).bytes(toBinary(AnySchema, create(AnySchema, { typeUrl: "type.googleapis.com/x.Unknown", value: new Uint8Array([1, 2]) })));
    const e = RestError.fromCall({ code: 5, message: "no such book", details: w.finish() }, reg);
    expect(e.status).toBe(404);
    expect(e.toStatusJson()).toEqual({
      code: 5,
      message: "no such book",
      details: [
        { "@type": "type.googleapis.com/hsu.gwtest.v1.Author", displayName: "A" },
        { "@type": "type.googleapis.com/google.protobuf.Duration", value: "3s" },
        { "@type": "type.googleapis.com/x.Unknown", value: "AQI=" },
      ],
    });
  });

  it("gives no details for bytes that are not a Status, rather than failing the answer", () => {
    expect(statusDetails(new Uint8Array([0xff, 0xff, 0xff]))).toEqual([]);
    expect(RestError.fromCall({ code: 14, message: "down", details: new Uint8Array([0x1a, 0x05, 0x01]) }).toStatusJson()).toEqual({ code: 14, message: "down", details: [] });
  });

  it("from anything else: itself, or INTERNAL with the message", () => {
    const e = new RestError(3, "bad");
    expect(RestError.from(e)).toBe(e);
    expect(RestError.from(new Error("boom"))).toMatchObject({ code: 13, status: 500, message: "boom" });
    expect(isRestError(new Error("x"))).toBe(false);
  });
});
