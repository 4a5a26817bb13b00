import { Validator } from "@seriousme/openapi-schema-validator";
import { beforeAll, describe, expect, it } from "vitest";
import { buildRegistry } from "../../testdata/descriptors.ts";
import { openApiDocument } from "./openapi.ts";
import { buildRoutes, type RouteTable } from "./routes.ts";

let table: RouteTable;
let doc: Record<string, any>;

beforeAll(() => {
  const reg = buildRegistry("rest");
  const service = reg.getService("hsu.gwtest.v1.LibraryService")!;
  table = buildRoutes([
    { unit: "lib", service, prefix: "/lib", auth: "required" },
    { unit: "lib", service, prefix: "/open", auth: "none" },
  ]);
  doc = openApiDocument(table.routes, { title: "Library", servers: ["http://127.0.0.1:8080"] });
});

describe("openApiDocument", () => {
  it("validates as OpenAPI 3.1", async () => {
    const v = new Validator();
    const res = await v.validate(JSON.parse(JSON.stringify(doc)));
    expect(res.errors).toBeUndefined();
    expect(res.valid).toBe(true);
    expect(v.version).toBe("3.1");
  });

  it("lists every route as an operation, once", () => {
    const ops: string[] = [];
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [verb, op] of Object.entries(item)) ops.push(`${verb.toUpperCase()} ${path} ${op.operationId}`);
    }
    expect(ops.length).toBe(table.routes.length);
    const ids = ops.map((o) => o.split(" ")[2]);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of table.routes) {
      expect(doc.paths[pathOf(r.template.source)]?.[r.verb.toLowerCase()], `${r.verb} ${r.template.source}`).toBeDefined();
    }
  });

  it("has path parameters with patterns, query parameters from the unbound fields, and bodies", () => {
    const get = doc.paths["/lib/v1/{name}"].get;
    expect(get.parameters[0]).toMatchObject({ name: "name", in: "path", required: true, schema: { type: "string", pattern: "^shelves/[^/]+/books/[^/]+$" } });
    expect(get.parameters.slice(1).map((p: any) => p.name)).toEqual(["readMask"]);
    // Same shape, other field: the path keeps the first name, the parameter says which field it sets.
    const patch = doc.paths["/lib/v1/{name}"].patch;
    expect(patch.parameters[0]).toMatchObject({ name: "name", description: "Sets the request field `book.name`." });
    expect(patch.requestBody.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/hsu.gwtest.v1.Book" });
    const list = doc.paths["/lib/v1/{parent}/books"].get;
    const q = Object.fromEntries(list.parameters.filter((p: any) => p.in === "query").map((p: any) => [p.name, p]));
    expect(Object.keys(q)).toEqual(
      expect.arrayContaining(["pageSize", "pageToken", "genres", "since", "maxAge", "minPages", "inPrint", "filter.author", "filter.year.from", "filter.year.to", "ids", "limit"]),
    );
    expect(q["parent"]).toBeUndefined();
    expect(q["byAuthor"]).toBeUndefined();
    expect(q["quota"]).toMatchObject({ style: "deepObject", schema: { type: "object", additionalProperties: { type: "integer" } } });
    expect(q["genres"]).toMatchObject({ style: "form", explode: true, schema: { type: "array", items: { $ref: "#/components/schemas/hsu.gwtest.v1.Genre" } } });
    expect(q["ids"].schema.items).toMatchObject({ type: "string", format: "int64" });
    expect(q["since"].schema).toEqual({ type: "string", format: "date-time" });
    expect(q["minPages"].schema).toMatchObject({ type: ["integer", "null"] });
    expect(doc.paths["/lib/v1/{name}"].put.parameters.filter((p: any) => p.in === "query")).toEqual([]);
    expect(doc.paths["/lib/v1/{name}:rename"].post.requestBody.content["application/json"].schema).toEqual({ type: "string" });
    expect(doc.paths["/lib/v1/{parent}/titles"].get.responses["200"].content["application/json"].schema).toEqual({
      type: "array",
      items: { $ref: "#/components/schemas/hsu.gwtest.v1.Book" },
    });
  });

  it("describes messages in their proto3 JSON form", () => {
    const s = doc.components.schemas;
    const book = s["hsu.gwtest.v1.Book"].properties;
    expect(book.pages).toMatchObject({ type: "string", format: "int64" });
    expect(book.copies).toMatchObject({ type: "string", format: "uint64" });
    expect(book.cover).toEqual({ type: "string", contentEncoding: "base64" });
    expect(book.genre).toEqual({ $ref: "#/components/schemas/hsu.gwtest.v1.Genre" });
    expect(book.labels).toEqual({ type: "object", additionalProperties: { type: "integer", format: "int32" } });
    expect(book.editors).toEqual({ type: "object", additionalProperties: { $ref: "#/components/schemas/hsu.gwtest.v1.Author" } });
    expect(book.extra).toEqual({ type: "object", additionalProperties: true });
    expect(book.inPrint).toEqual({ type: "boolean" });
    expect(s["hsu.gwtest.v1.Book"].description).toContain("At most one of `isbn`, `catalogNumber` (oneof format)");
    expect(s["hsu.gwtest.v1.Book"].description).not.toContain("copies");
    expect(s["hsu.gwtest.v1.Author"].properties.mentor).toEqual({ $ref: "#/components/schemas/hsu.gwtest.v1.Author" });
    expect(s["hsu.gwtest.v1.Genre"]).toEqual({ type: "string", enum: ["GENRE_UNSPECIFIED", "GENRE_FICTION", "GENRE_SCIENCE"] });
    expect(s["google.rpc.Status"].required).toEqual(["code", "message", "details"]);
  });

  it("marks auth, errors and streams", () => {
    const lib = doc.paths["/lib/v1/{name}"].get;
    const open = doc.paths["/open/v1/{name}"].get;
    expect(lib.security).toEqual([{ bearer: [] }]);
    expect(lib.responses["401"]).toBeDefined();
    expect(open.security).toEqual([]);
    expect(open.responses["401"]).toBeUndefined();
    expect(open.responses.default.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/google.rpc.Status" });
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    const watch = doc.paths["/lib/v1/{parent}/books:watch"].get.responses["200"].content;
    expect(Object.keys(watch)).toEqual(["application/x-ndjson", "text/event-stream"]);
    expect(watch["application/x-ndjson"].schema.properties.result).toEqual({ $ref: "#/components/schemas/hsu.gwtest.v1.Book" });
  });
});

/** `/v1/{name=shelves/*}/books` -> `/v1/{name}/books` */
function pathOf(source: string): string {
  return source
    .replace(/\{([^}=]+)(=[^}]*)?\}/g, "{$1}")
    .replace("{book.name}", "{name}")
    .replace("/*/", "/{segment3}/");
}
