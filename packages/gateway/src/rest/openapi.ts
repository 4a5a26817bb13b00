import { ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { isLeaf } from "./fields.ts";
import type { TemplateSegment } from "./http-rule.ts";
import type { Route } from "./routes.ts";

/** Options of {@link openApiDocument}. */
export interface OpenApiOptions {
  readonly title?: string;
  readonly version?: string;
  /** Server URLs (for example the gateway's public address). */
  readonly servers?: readonly string[];
}

type Schema = Record<string, unknown>;
type Operation = Record<string, unknown>;

const STATUS = "google.rpc.Status";
const METHODS = new Set(["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"]);
/** How deep query parameters are listed into nested request messages. */
const MAX_QUERY_DEPTH = 5;

/**
 * An OpenAPI 3.1 document for the REST routes: every route as an operation
 * with its path and query parameters, request body and responses (the error
 * body is google.rpc.Status), and the messages as proto3 JSON schemas in
 * components.schemas. Routes with an HTTP method OpenAPI has no field for
 * (a custom kind other than the eight standard ones) are left out.
 */
export function openApiDocument(routes: readonly Route[], options: OpenApiOptions = {}): Record<string, unknown> {
  const schemas = new SchemaSet();
  const paths: Record<string, Record<string, Operation>> = {};
  const hierarchies = new Map<string, string[]>();
  const ids = new Map<string, number>();
  let secured = false;
  for (const route of routes) {
    if (!METHODS.has(route.verb)) continue;
    const { path, names } = openApiPath(route, hierarchies);
    const base = `${route.method.parent.typeName}.${route.method.name}`;
    const n = ids.get(base) ?? 0;
    ids.set(base, n + 1);
    const op = operation(route, names, schemas, n === 0 ? base : `${base}_${n}`);
    if (route.auth === "required") secured = true;
    (paths[path] ??= {})[route.verb.toLowerCase()] = op;
  }
  const components: Record<string, unknown> = { schemas: { ...schemas.all(), [STATUS]: statusSchema() } };
  if (secured) components["securitySchemes"] = { bearer: { type: "http", scheme: "bearer", description: "An HSU API token or an OIDC access token." } };
  return {
    openapi: "3.1.0",
    info: { title: options.title ?? "HSU gateway", version: options.version ?? "1" },
    ...(options.servers === undefined ? {} : { servers: options.servers.map((url) => ({ url })) }),
    paths,
    components,
  };
}

/**
 * The OpenAPI path of a route: each variable becomes one `{name}` (a
 * multi-segment variable too, with a pattern). Routes with the same shape
 * share the first one's names, since OpenAPI forbids two paths that differ
 * only in parameter names.
 */
function openApiPath(route: Route, hierarchies: Map<string, string[]>): { path: string; names: string[] } {
  const t = route.template;
  const parts: string[] = [];
  const own: string[] = [];
  let i = 0;
  while (i < t.segments.length) {
    const v = t.variables.find((x) => x.start === i);
    if (v !== undefined) {
      parts.push("\0");
      own.push(v.fieldPath.join("."));
      i = v.end;
      continue;
    }
    const s = t.segments[i]!;
    if (s.kind === "literal") parts.push(s.value);
    else {
      // An unbound "*" or "**": a parameter in OpenAPI, not sent to the unit.
      parts.push("\0");
      own.push(`${s.kind === "wildcard" ? "segment" : "rest"}${i}`);
    }
    i++;
  }
  const verb = t.verb === undefined ? "" : `:${t.verb}`;
  const key = `/${parts.join("/")}${verb}`;
  const names = hierarchies.get(key) ?? own;
  hierarchies.set(key, names);
  let k = 0;
  const path = `/${parts.map((p) => (p === "\0" ? `{${names[k++]}}` : p)).join("/")}${verb}`;
  return { path, names };
}

function operation(route: Route, names: readonly string[], schemas: SchemaSet, operationId: string): Operation {
  const parameters: Schema[] = [];
  const t = route.template;
  let k = 0;
  for (let i = 0; i < t.segments.length; ) {
    const v = t.variables.find((x) => x.start === i);
    if (v === undefined) {
      const s = t.segments[i]!;
      if (s.kind !== "literal") {
        const description = s.kind === "wildcard" ? "Any one path segment (not sent to the unit)." : "The rest of the path (not sent to the unit).";
        parameters.push({ name: names[k++], in: "path", required: true, description, schema: { type: "string", pattern: `^${segmentPattern(s)}$` } });
      }
      i++;
      continue;
    }
    const field = v.fieldPath.join(".");
    const chain = route.pathFields.get(field)!;
    const schema: Schema = { ...schemas.field(chain[chain.length - 1]!) };
    if (v.multi) schema["pattern"] = `^${t.segments.slice(v.start, v.end).map(segmentPattern).join("/")}$`;
    parameters.push({ name: names[k++], in: "path", required: true, description: `Sets the request field \`${field}\`.`, schema });
    i = v.end;
  }
  if (route.body.kind !== "all") {
    const skip = new Set(route.pathFields.keys());
    if (route.body.kind === "field") skip.add(route.body.field.name);
    queryParams(route.method.input, "", skip, schemas, parameters, []);
  }
  const op: Operation = {
    operationId,
    tags: [route.method.parent.typeName],
    summary: `${route.method.parent.name}.${route.method.name}`,
    description: `Calls ${route.method.parent.typeName}.${route.method.name} on the unit \`${route.unit}\`.`,
    parameters,
  };
  if (route.body.kind !== "none") {
    const schema = route.body.kind === "all" ? schemas.message(route.method.input) : schemas.field(route.body.field);
    op["requestBody"] = { required: false, content: { "application/json": { schema } } };
  }
  const result = route.responseBody === undefined ? schemas.message(route.method.output) : schemas.field(route.responseBody);
  const ok = route.streaming
    ? {
        description: "A stream of messages: NDJSON by default, Server-Sent Events with `Accept: text/event-stream`.",
        content: {
          "application/x-ndjson": {
            schema: { type: "object", properties: { result, error: ref(STATUS) }, description: 'One line per message (`{"result": ...}`); a failed stream ends with `{"error": ...}`.' },
          },
          "text/event-stream": {
            schema: { type: "string", description: "`event: message` with a message as `data`; a failed stream ends with `event: error` and a google.rpc.Status." },
          },
        },
      }
    : { description: "OK", content: { "application/json": { schema: result } } };
  const error = (description: string): Schema => ({ description, content: { "application/json": { schema: ref(STATUS) } } });
  const responses: Record<string, unknown> = { "200": ok, "400": error("The request does not fit the method (path, query or body).") };
  if (route.auth === "required") {
    responses["401"] = error("No credentials, or they are invalid or expired.");
    responses["403"] = error("The credentials do not allow this call.");
  }
  responses["default"] = error("The call failed: a google.rpc.Status, its gRPC code mapped to the HTTP status.");
  op["responses"] = responses;
  op["security"] = route.auth === "required" ? [{ bearer: [] }] : [];
  return op;
}

function segmentPattern(s: TemplateSegment): string {
  return s.kind === "literal" ? s.value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") : s.kind === "wildcard" ? "[^/]+" : ".*";
}

function queryParams(m: DescMessage, prefix: string, skip: ReadonlySet<string>, schemas: SchemaSet, out: Schema[], seen: readonly string[], jsonPrefix = ""): void {
  if (seen.length >= MAX_QUERY_DEPTH || seen.includes(m.typeName)) return;
  for (const f of m.fields) {
    const name = prefix + f.name;
    if (skip.has(name)) continue;
    if (isLeaf(f)) {
      const schema = schemas.field(f);
      out.push({ name: jsonPrefix + f.jsonName, in: "query", required: false, schema, ...(f.fieldKind === "list" ? { style: "form", explode: true } : {}) });
    } else if (f.fieldKind === "map" && f.mapKind !== "message") {
      // `quota[key]=value`: OpenAPI's deepObject style.
      out.push({ name: jsonPrefix + f.jsonName, in: "query", required: false, style: "deepObject", explode: true, schema: schemas.field(f) });
    } else if (f.fieldKind === "message") {
      queryParams(f.message, `${name}.`, skip, schemas, out, [...seen, m.typeName], `${jsonPrefix}${f.jsonName}.`);
    }
  }
}

function ref(typeName: string): Schema {
  return { $ref: `#/components/schemas/${typeName}` };
}

function statusSchema(): Schema {
  return {
    type: "object",
    description: "google.rpc.Status: the body of every error.",
    properties: {
      code: { type: "integer", format: "int32", description: "The gRPC status code." },
      message: { type: "string" },
      details: { type: "array", items: { type: "object", properties: { "@type": { type: "string" } }, additionalProperties: true } },
    },
    required: ["code", "message", "details"],
  };
}

/** The JSON schemas of the messages and enums a document refers to, by full name. */
class SchemaSet {
  private readonly schemas = new Map<string, Schema>();

  all(): Record<string, Schema> {
    return Object.fromEntries([...this.schemas].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** A reference to a message's schema (or the inline schema of a well-known type). */
  message(m: DescMessage): Schema {
    const wkt = wellKnown(m);
    if (wkt !== undefined) return wkt;
    if (!this.schemas.has(m.typeName)) {
      const schema: Schema = { type: "object", properties: {} };
      this.schemas.set(m.typeName, schema);
      const props: Record<string, Schema> = {};
      for (const f of m.fields) props[f.jsonName] = this.field(f);
      schema["properties"] = props;
      schema["additionalProperties"] = false;
      const oneofs = m.oneofs.filter((o) => !o.fields.every((f) => f.proto.proto3Optional));
      if (oneofs.length > 0) {
        schema["description"] = oneofs.map((o) => `At most one of ${o.fields.map((f) => `\`${f.jsonName}\``).join(", ")} (oneof ${o.name}).`).join(" ");
      }
    }
    return ref(m.typeName);
  }

  enumRef(e: DescEnum): Schema {
    if (e.typeName === "google.protobuf.NullValue") return { type: "null" };
    if (!this.schemas.has(e.typeName)) this.schemas.set(e.typeName, { type: "string", enum: e.values.map((v) => v.name) });
    return ref(e.typeName);
  }

  /** The proto3 JSON schema of a field. */
  field(f: DescField): Schema {
    switch (f.fieldKind) {
      case "scalar":
        return scalarSchema(f.scalar);
      case "enum":
        return this.enumRef(f.enum);
      case "message":
        return this.message(f.message);
      case "list":
        return { type: "array", items: f.listKind === "scalar" ? scalarSchema(f.scalar) : f.listKind === "enum" ? this.enumRef(f.enum) : this.message(f.message) };
      case "map": {
        const value = f.mapKind === "scalar" ? scalarSchema(f.scalar) : f.mapKind === "enum" ? this.enumRef(f.enum) : this.message(f.message);
        return { type: "object", additionalProperties: value };
      }
    }
  }
}

/** proto3 JSON: 64-bit integers are strings, bytes are base64. */
function scalarSchema(t: ScalarType): Schema {
  switch (t) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "int64", minimum: 0, maximum: 4294967295 };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { type: "string", format: "int64", pattern: "^-?[0-9]+$" };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: "string", format: "uint64", pattern: "^[0-9]+$" };
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
  }
}

const WRAPPED: Record<string, ScalarType> = {
  "google.protobuf.DoubleValue": ScalarType.DOUBLE,
  "google.protobuf.FloatValue": ScalarType.FLOAT,
  "google.protobuf.Int64Value": ScalarType.INT64,
  "google.protobuf.UInt64Value": ScalarType.UINT64,
  "google.protobuf.Int32Value": ScalarType.INT32,
  "google.protobuf.UInt32Value": ScalarType.UINT32,
  "google.protobuf.BoolValue": ScalarType.BOOL,
  "google.protobuf.StringValue": ScalarType.STRING,
  "google.protobuf.BytesValue": ScalarType.BYTES,
};

/** The inline schemas of the well-known types with a special JSON form. */
function wellKnown(m: DescMessage): Schema | undefined {
  const wrapped = WRAPPED[m.typeName];
  if (wrapped !== undefined) {
    const s = scalarSchema(wrapped);
    return { ...s, type: [s["type"], "null"] };
  }
  switch (m.typeName) {
    case "google.protobuf.Timestamp":
      return { type: "string", format: "date-time" };
    case "google.protobuf.Duration":
      return { type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$", description: 'A duration in seconds with an "s" suffix, e.g. "3.5s".' };
    case "google.protobuf.FieldMask":
      return { type: "string", description: "Comma-separated lowerCamelCase field paths." };
    case "google.protobuf.Struct":
      return { type: "object", additionalProperties: true };
    case "google.protobuf.Value":
      return {};
    case "google.protobuf.ListValue":
      return { type: "array", items: {} };
    case "google.protobuf.Empty":
      return { type: "object", additionalProperties: false };
    case "google.protobuf.Any":
      return { type: "object", properties: { "@type": { type: "string" } }, required: ["@type"], additionalProperties: true };
  }
  return undefined;
}
