import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";

/** Well-known types whose proto3 JSON form is a single string, number or bool: they can sit in a path or a query. */
export const SCALAR_WKT: ReadonlySet<string> = new Set([
  "google.protobuf.Timestamp",
  "google.protobuf.Duration",
  "google.protobuf.FieldMask",
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

/** A field by its proto name or its JSON name. */
export function findField(message: DescMessage, name: string): DescField | undefined {
  return message.fields.find((f) => f.name === name) ?? message.fields.find((f) => f.jsonName === name);
}

/**
 * Resolves `a.b.c` to the chain of fields, each but the last a singular message
 * field. Returns why not, as a sentence, when it does not resolve.
 */
export function resolveFieldPath(message: DescMessage, path: readonly string[]): DescField[] | string {
  const chain: DescField[] = [];
  let m: DescMessage | undefined = message;
  for (let i = 0; i < path.length; i++) {
    const name = path[i]!;
    const f: DescField | undefined = m === undefined ? undefined : findField(m, name);
    if (m === undefined || f === undefined) {
      const owner = m?.typeName ?? "?";
      return `"${path.slice(0, i + 1).join(".")}" is not a field of ${owner}`;
    }
    chain.push(f);
    if (i < path.length - 1) {
      if (f.fieldKind !== "message" || SCALAR_WKT.has(f.message.typeName)) {
        return `"${path.slice(0, i + 1).join(".")}" is not a message field, so it has no field "${path[i + 1]}"`;
      }
      m = f.message;
    }
  }
  return chain;
}

/** The element kind of a field that a path variable or query parameter can set: scalar, enum or a scalar-like WKT. */
export function isLeaf(f: DescField): boolean {
  switch (f.fieldKind) {
    case "scalar":
    case "enum":
      return true;
    case "message":
      return SCALAR_WKT.has(f.message.typeName);
    case "list":
      return f.listKind !== "message" || SCALAR_WKT.has(f.message.typeName);
    case "map":
      return false;
  }
}

/** A short type name for messages: `int32`, `repeated string`, `enum hsu.x.Genre`, `google.protobuf.Timestamp`. */
export function describeType(f: DescField): string {
  switch (f.fieldKind) {
    case "scalar":
      return scalarName(f.scalar);
    case "enum":
      return f.enum.typeName;
    case "message":
      return f.message.typeName;
    case "list":
      return `repeated ${f.listKind === "scalar" ? scalarName(f.scalar) : f.listKind === "enum" ? f.enum.typeName : f.message.typeName}`;
    case "map":
      return `map<${scalarName(f.mapKey)}, ${f.mapKind === "scalar" ? scalarName(f.scalar) : f.mapKind === "enum" ? f.enum.typeName : f.message.typeName}>`;
  }
}

/** The proto name of a scalar type (`int64`, `bytes`). */
export function scalarName(t: ScalarType): string {
  return ScalarType[t].toLowerCase();
}
