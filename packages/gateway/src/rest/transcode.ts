import {
  create,
  fromBinary,
  mergeFromJson,
  ScalarType,
  toBinary,
  toJson,
  type DescField,
  type DescMessage,
  type JsonValue,
  type Message,
  type Registry,
} from "@bufbuild/protobuf";
import { GrpcCode, RestError } from "./errors.ts";
import { describeType, isLeaf, resolveFieldPath } from "./fields.ts";
import type { PathParams } from "./http-rule.ts";
import type { Route } from "./routes.ts";

/** How deep a JSON body may nest; deeper is refused before parsing into a message (protobuf's own limit is 100). */
export const MAX_JSON_DEPTH = 64;

/** The parts of an HTTP request the request message is built from. */
export interface HttpInput {
  readonly params: PathParams;
  /** The query string without "?". */
  readonly query: string;
  /** The body as read (empty when none was sent). */
  readonly body: Uint8Array;
  readonly contentType: string | undefined;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

const bad = (message: string): RestError => new RestError(GrpcCode.INVALID_ARGUMENT, message);

/**
 * Builds the request message of a route: the body per the rule first, then
 * path variables (they win over the body, as grpc-gateway does), then query
 * parameters for the fields neither binds. Every error is a 400 RestError
 * naming the parameter or field.
 */
export function buildRequest(route: Route, input: HttpInput, registry: Registry): Message {
  const schema = route.method.input;
  const msg = create(schema);
  readBody(route, input, registry, msg);
  for (const [name, value] of input.params) {
    const chain = route.pathFields.get(name)!;
    mergeParam(schema, msg, chain, [value], registry, `path variable "${name}"`);
  }
  readQuery(route, input.query, registry, msg);
  return msg;
}

/** {@link buildRequest}, encoded as protobuf binary for the upstream. */
export function encodeRequest(route: Route, input: HttpInput, registry: Registry): Uint8Array {
  return toBinary(route.method.input, buildRequest(route, input, registry));
}

/**
 * The JSON of a response message as the body (or its `response_body` field):
 * proto3 JSON with lowerCamelCase names, enums by name, int64 as strings and,
 * like grpc-gateway, fields at their default values included (`0`, `""`,
 * `[]`, `{}`; unset message and optional fields stay out).
 */
export function responseJson(route: Route, bytes: Uint8Array, registry: Registry): JsonValue {
  const schema = route.method.output;
  let msg: Message;
  try {
    msg = fromBinary(schema, bytes);
  } catch (e) {
    throw new RestError(GrpcCode.INTERNAL, `the unit ${route.unit} answered ${route.method.parent.typeName}.${route.method.name} with bytes that are not a ${schema.typeName}: ${(e as Error).message}`);
  }
  const json = toJson(schema, msg, { registry, alwaysEmitImplicit: true }) as Record<string, JsonValue>;
  if (route.responseBody === undefined) return json;
  return json[route.responseBody.jsonName] ?? null;
}

function readBody(route: Route, input: HttpInput, registry: Registry, msg: Message): void {
  const rule = route.body;
  if (rule.kind === "none") {
    if (input.body.length > 0) {
      throw bad(`${route.verb} ${route.template.source} takes no request body (it got ${input.body.length} bytes); send the fields as query parameters`);
    }
    return;
  }
  if (input.body.length === 0) return;
  const ct = input.contentType;
  if (ct !== undefined && ct !== "" && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(ct)) {
    throw RestError.http(415, GrpcCode.INVALID_ARGUMENT, `the request body must be JSON (Content-Type: application/json), not "${ct}"`);
  }
  let text: string;
  try {
    text = utf8.decode(input.body);
  } catch {
    throw bad("the request body is not valid UTF-8");
  }
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) throw bad(`the request body nests deeper than ${MAX_JSON_DEPTH} levels`);
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch (e) {
    throw bad(`the request body is not valid JSON: ${(e as Error).message}`);
  }
  const schema = route.method.input;
  const where = rule.kind === "all" ? `the request body (${schema.typeName})` : `the request body (field "${rule.field.name}", ${describeType(rule.field)})`;
  if (rule.kind === "all" && (json === null || typeof json !== "object" || Array.isArray(json))) {
    throw bad(`${where} must be a JSON object`);
  }
  const tree = rule.kind === "all" ? json : { [rule.field.jsonName]: json };
  try {
    mergeFromJson(schema, msg, tree, { registry, ignoreUnknownFields: false });
  } catch (e) {
    throw bad(`${where}: ${(e as Error).message}`);
  }
}

function readQuery(route: Route, query: string, registry: Registry, msg: Message): void {
  if (query === "") return;
  const schema = route.method.input;
  const byName = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(query)) {
    const list = byName.get(k);
    if (list === undefined) byName.set(k, [v]);
    else list.push(v);
  }
  const oneofs = new Map<object, string>();
  const given = new Map<string, string>();
  // Path variables may name fields by JSON name; compare by proto names.
  const bound = [...route.pathFields.values()].map((chain) => chain.map((f) => f.name).join("."));
  for (const [name, values] of byName) {
    const what = `query parameter "${name}"`;
    if (route.body.kind === "all") {
      throw bad(`${what}: ${route.verb} ${route.template.source} takes every field in the body, so it has no query parameters`);
    }
    // `labels[key]=value` sets one entry of a map field (grpc-gateway's syntax).
    const entry = /^([^[\]]+)\[([^[\]]*)\]$/.exec(name);
    const chain = resolveFieldPath(schema, (entry?.[1] ?? name).split("."));
    if (typeof chain === "string") throw bad(`unknown ${what}: ${chain}`);
    const canonical = chain.map((f) => f.name).join(".") + (entry === null ? "" : `[${entry[2]}]`);
    const twice = given.get(canonical);
    if (twice !== undefined) throw bad(`${what}: the field "${canonical}" is already given as query parameter "${twice}"`);
    given.set(canonical, name);
    for (const b of bound) {
      if (b === canonical || canonical.startsWith(`${b}.`) || b.startsWith(`${canonical}.`)) {
        throw bad(`${what}: the field "${b}" is set by the path`);
      }
    }
    if (route.body.kind === "field" && chain[0] === route.body.field) {
      throw bad(`${what}: the field "${route.body.field.name}" is carried by the request body`);
    }
    const leaf = chain[chain.length - 1]!;
    if (entry !== null || leaf.fieldKind === "map") {
      mergeMapEntry(schema, msg, chain, entry?.[2], values, registry, what);
      continue;
    }
    if (!isLeaf(leaf)) throw bad(`${what}: the field "${canonical}" is ${describeType(leaf)}; set it in a request body`);
    if (leaf.fieldKind !== "list" && values.length > 1) {
      throw bad(`${what} is given ${values.length} times, but the field "${canonical}" (${describeType(leaf)}) is not repeated`);
    }
    if (leaf.oneof !== undefined) {
      const prev = oneofs.get(leaf.oneof);
      if (prev !== undefined) throw bad(`${what}: the field "${canonical}" and "${prev}" are in the same oneof "${leaf.oneof.name}"; set one`);
      oneofs.set(leaf.oneof, canonical);
    }
    mergeParam(schema, msg, chain, values, registry, what);
  }
}

/** Sets one path variable or query parameter: its text is turned into the field's JSON form and merged. */
function mergeParam(schema: DescMessage, msg: Message, chain: readonly DescField[], values: readonly string[], registry: Registry, what: string): void {
  const leaf = chain[chain.length - 1]!;
  const name = chain.map((f) => f.name).join(".");
  let value: JsonValue;
  try {
    value = leaf.fieldKind === "list" ? values.map((v) => leafJson(leaf, v)) : leafJson(leaf, values[0]!);
  } catch (e) {
    throw bad(`${what}: ${(e as Error).message} for the field "${name}" (${describeType(leaf)})`);
  }
  let tree: JsonValue = value;
  for (let i = chain.length - 1; i >= 0; i--) tree = { [chain[i]!.jsonName]: tree };
  try {
    mergeFromJson(schema, msg, tree, { registry, ignoreUnknownFields: false });
  } catch {
    throw bad(`${what}: ${JSON.stringify(clip(values.join(",")))} is not a valid ${describeType(leaf)} for the field "${name}"`);
  }
}

function mergeMapEntry(
  schema: DescMessage,
  msg: Message,
  chain: readonly DescField[],
  key: string | undefined,
  values: readonly string[],
  registry: Registry,
  what: string,
): void {
  const leaf = chain[chain.length - 1]!;
  const name = chain.map((f) => f.name).join(".");
  if (leaf.fieldKind !== "map") throw bad(`${what}: the field "${name}" (${describeType(leaf)}) is not a map, so it takes no [key]`);
  if (key === undefined) throw bad(`${what}: the field "${name}" is a map; set an entry with ${name}[key]=value`);
  if (leaf.mapKind === "message") throw bad(`${what}: the field "${name}" is ${describeType(leaf)}; set it in a request body`);
  if (values.length > 1) throw bad(`${what} is given ${values.length} times, but a map entry has one value`);
  const text = values[0]!;
  let value: JsonValue = text;
  if (leaf.mapKind === "enum") value = /^-?\d+$/.test(text) ? Number(text) : text;
  else if (leaf.scalar === ScalarType.BOOL) {
    if (text !== "true" && text !== "false") throw bad(`${what}: ${JSON.stringify(clip(text))} is not true or false for the field "${name}"`);
    value = text === "true";
  }
  let tree: JsonValue = { [key]: value };
  for (let i = chain.length - 1; i >= 0; i--) tree = { [chain[i]!.jsonName]: tree };
  try {
    mergeFromJson(schema, msg, tree, { registry, ignoreUnknownFields: false });
  } catch {
    throw bad(`${what}: ${JSON.stringify(clip(`${key}=${text}`))} is not a valid entry of ${describeType(leaf)} for the field "${name}"`);
  }
}

/** The proto3 JSON value a text stands for, for the field's element type. */
function leafJson(f: DescField, text: string): JsonValue {
  const kind = f.fieldKind === "list" ? f.listKind : f.fieldKind;
  if (kind === "enum") return /^-?\d+$/.test(text) ? Number(text) : text;
  const isBool =
    (kind === "scalar" && f.scalar === ScalarType.BOOL) || (kind === "message" && f.message?.typeName === "google.protobuf.BoolValue");
  if (isBool) {
    if (text === "true" || text === "false") return text === "true";
    throw new Error(`${JSON.stringify(clip(text))} is not true or false`);
  }
  return text;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}

/** The deepest nesting of objects and arrays in a JSON text (strings skipped), without parsing it. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}
