import { create, toBinary, toJson, type FileRegistry, type JsonValue } from "@bufbuild/protobuf";
import { beforeAll, describe, expect, it } from "vitest";
import { buildRegistry } from "../../testdata/descriptors.ts";
import { isRestError } from "./errors.ts";
import { buildRoutes, createRouter, type Route, type RouteTable } from "./routes.ts";
import { buildRequest, jsonDepth, MAX_JSON_DEPTH, responseJson } from "./transcode.ts";

let reg: FileRegistry;
let table: RouteTable;
let router: ReturnType<typeof createRouter>;

beforeAll(() => {
  reg = buildRegistry("rest");
  table = buildRoutes([{ unit: "lib", service: reg.getService("hsu.gwtest.v1.LibraryService")!, prefix: "", auth: "none" }]);
  router = createRouter(table.routes);
});

/** Transcodes a request and returns the request message as proto3 JSON. */
function req(verb: string, url: string, body?: string, contentType = "application/json"): JsonValue {
  const q = url.indexOf("?");
  const m = router(verb, q < 0 ? url : url.slice(0, q))!;
  expect(m, `${verb} ${url} matches`).toBeDefined();
  const msg = buildRequest(
    m.route,
    { params: m.params, query: q < 0 ? "" : url.slice(q + 1), body: new TextEncoder().encode(body ?? ""), contentType },
    reg,
  );
  return toJson(m.route.method.input, msg, { registry: reg });
}

function fails(verb: string, url: string, body?: string, contentType?: string): { status: number; message: string } {
  try {
    req(verb, url, body, contentType);
  } catch (e) {
    if (isRestError(e)) return { status: e.status, message: e.message };
    throw e;
  }
  throw new Error(`${verb} ${url} did not fail`);
}

describe("request from path, query and body", () => {
  it.each<[string, string, string | undefined, JsonValue]>([
    ["GET", "/v1/shelves/s1/books/b1", undefined, { name: "shelves/s1/books/b1" }],
    ["GET", "/v1/books/a%2Fb?readMask=title,author.displayName", undefined, { name: "a/b", readMask: "title,author.displayName" }],
    ["GET", "/v1/books/b?read_mask=title", undefined, { name: "b", readMask: "title" }],
    [
      "GET",
      "/v1/shelves/s1/books?pageSize=10&page_token=abc&genres=GENRE_FICTION&genres=2&ids=1&ids=9007199254740993&limit=4294967295&score=1.5&deleted=true",
      undefined,
      {
        parent: "shelves/s1",
        pageSize: 10,
        pageToken: "abc",
        genres: ["GENRE_FICTION", "GENRE_SCIENCE"],
        ids: ["1", "9007199254740993"],
        limit: 4294967295,
        score: 1.5,
        deleted: true,
      },
    ],
    [
      "GET",
      "/v1/shelves/s1/books?since=2024-01-02T03:04:05Z&maxAge=3.5s&minPages=7&inPrint=false&note=hi&token=AQID",
      undefined,
      { parent: "shelves/s1", since: "2024-01-02T03:04:05Z", maxAge: "3.500s", minPages: 7, inPrint: false, note: "hi", token: "AQID" },
    ],
    [
      "GET",
      "/v1/shelves/s1/books?filter.author=ann&filter.year.from=1990&filter.year.to=2000",
      undefined,
      { parent: "shelves/s1", filter: { author: "ann", year: { from: 1990, to: 2000 } } },
    ],
    ["GET", "/v1/shelves/s1/books?quota[a]=1&quota[b%20c]=2&shelfGenres[3]=GENRE_FICTION&shelf_genres[4]=2", undefined, { parent: "shelves/s1", quota: { a: 1, "b c": 2 }, shelfGenres: { 3: "GENRE_FICTION", 4: "GENRE_SCIENCE" } }],
    ["GET", "/v1/shelves/s1/books?page_token=a+b%26c", undefined, { parent: "shelves/s1", pageToken: "a b&c" }],
    ["GET", "/v1/shelves/s1/books?genres=GENRE_UNSPECIFIED", undefined, { parent: "shelves/s1", genres: ["GENRE_UNSPECIFIED"] }],
    [
      "POST",
      "/v1/shelves/s1/books?bookId=b9",
      '{"title":"T","genre":"GENRE_SCIENCE","tags":["x","y"],"labels":{"a":1},"published":"2020-01-01T00:00:00Z","pages":"12","cover":"AAE=","author":{"displayName":"A","mentor":{"display_name":"M"}},"isbn":"978","extra":{"k":[1,"two",null]},"copies":"3","editors":{"e":{"displayName":"E"}}}',
      {
        parent: "shelves/s1",
        bookId: "b9",
        book: {
          title: "T",
          genre: "GENRE_SCIENCE",
          tags: ["x", "y"],
          labels: { a: 1 },
          published: "2020-01-01T00:00:00Z",
          pages: "12",
          cover: "AAE=",
          author: { displayName: "A", mentor: { displayName: "M" } },
          isbn: "978",
          extra: { k: [1, "two", null] },
          copies: "3",
          editors: { e: { displayName: "E" } },
        },
      },
    ],
    // The path wins over the body (as in grpc-gateway).
    ["PATCH", "/v1/shelves/s1/books/b1?updateMask=title", '{"name":"other","title":"New"}', { book: { name: "shelves/s1/books/b1", title: "New" }, updateMask: "title" }],
    ["PUT", "/v1/shelves/s1/books/b1", '{"title":"All","catalogNumber":5}', { name: "shelves/s1/books/b1", title: "All", catalogNumber: 5 }],
    ["POST", "/v1/shelves/s1/books/b1:move", '{"otherShelf":"s2"}', { name: "shelves/s1/books/b1", otherShelf: "s2" }],
    ["POST", "/v1/shelves/s1:rename", '"s3"', { name: "shelves/s1", otherShelf: "s3" }],
    ["POST", "/v1/shelves/s1/books", "", { parent: "shelves/s1" }],
    ["DELETE", "/v1/shelves/s1/books/b1", undefined, { name: "shelves/s1/books/b1" }],
    ["GET", "/v1/files/a/b%2Fc/d", undefined, { name: "a/b%2Fc/d" }],
  ])("%s %s %s", (verb, url, body, want) => {
    expect(req(verb, url, body)).toEqual(want);
  });
});

describe("bad requests are 400 naming the field", () => {
  it.each<[string, string, string | undefined, number, string]>([
    ["GET", "/v1/shelves/s1/books?nope=1", undefined, 400, 'unknown query parameter "nope": "nope" is not a field of hsu.gwtest.v1.ListBooksRequest'],
    ["GET", "/v1/shelves/s1/books?filter.nope=1", undefined, 400, '"filter.nope" is not a field of hsu.gwtest.v1.Filter'],
    ["GET", "/v1/shelves/s1/books?pageToken.x=1", undefined, 400, '"pageToken" is not a message field'],
    ["GET", "/v1/shelves/s1/books?pageSize=abc", undefined, 400, 'query parameter "pageSize": "abc" is not a valid int32 for the field "page_size"'],
    ["GET", "/v1/shelves/s1/books?pageSize=3000000000", undefined, 400, 'query parameter "pageSize": "3000000000" is not a valid int32'],
    ["GET", "/v1/shelves/s1/books?pageSize=1.5", undefined, 400, "is not a valid int32"],
    ["GET", "/v1/shelves/s1/books?limit=-1", undefined, 400, "is not a valid uint32"],
    ["GET", "/v1/shelves/s1/books?ids=99999999999999999999999", undefined, 400, "is not a valid repeated int64"],
    ["GET", "/v1/shelves/s1/books?pageSize=1&pageSize=2", undefined, 400, 'query parameter "pageSize" is given 2 times, but the field "page_size" (int32) is not repeated'],
    ["GET", "/v1/shelves/s1/books?page_size=1&pageSize=2", undefined, 400, 'query parameter "pageSize": the field "page_size" is already given as query parameter "page_size"'],
    ["GET", "/v1/shelves/s1/books?filter.year.from=1&filter.year.from=2", undefined, 400, "is given 2 times"],
    ["GET", "/v1/shelves/s1/books?pageSize=%00", undefined, 400, "is not a valid int32"],
    ["GET", "/v1/shelves/s1/books?score=1e999", undefined, 400, "is not a valid float"],
    ["GET", "/v1/shelves/s1/books?maxAge=forever", undefined, 400, "is not a valid google.protobuf.Duration"],
    ["GET", "/v1/shelves/s1/books?inPrint=maybe", undefined, 400, "is not true or false"],
    ["GET", "/v1/shelves/s1/books/b1?name=x", undefined, 400, 'the field "name" is set by the path'],
    ["GET", "/v1/shelves/s1/books?quota[a]=x", undefined, 400, 'query parameter "quota[a]": "a=x" is not a valid entry of map<string, int32> for the field "quota"'],
    ["GET", "/v1/shelves/s1/books?quota[a]=1&quota[a]=2", undefined, 400, "a map entry has one value"],
    ["GET", "/v1/shelves/s1/books?shelfGenres[x]=1", undefined, 400, "is not a valid entry of map<int32, hsu.gwtest.v1.Genre>"],
    ["GET", "/v1/shelves/s1/books?quota=1", undefined, 400, "set an entry with quota[key]=value"],
    ["GET", "/v1/shelves/s1/books?pageSize[a]=1", undefined, 400, "is not a map, so it takes no [key]"],
    ["GET", "/v1/shelves/s1/books?byAuthor[a]=1", undefined, 400, "set it in a request body"],
    ["GET", "/v1/shelves/s1/books?deleted=yes", undefined, 400, 'query parameter "deleted": "yes" is not true or false for the field "deleted" (bool)'],
    ["GET", "/v1/shelves/s1/books?genres=GENRE_NOPE", undefined, 400, "is not a valid repeated hsu.gwtest.v1.Genre"],
    ["GET", "/v1/shelves/s1/books?since=yesterday", undefined, 400, 'query parameter "since": "yesterday" is not a valid google.protobuf.Timestamp'],
    ["GET", "/v1/shelves/s1/books?filter=x", undefined, 400, 'the field "filter" is hsu.gwtest.v1.Filter; set it in a request body'],
    ["GET", "/v1/shelves/s1/books?parent=shelves/s2", undefined, 400, 'query parameter "parent": the field "parent" is set by the path'],
    ["POST", "/v1/shelves/s1/books?book.title=x", "{}", 400, 'the field "book" is carried by the request body'],
    ["PUT", "/v1/shelves/s1/books/b1?title=x", "{}", 400, "takes every field in the body, so it has no query parameters"],
    ["GET", "/v1/shelves/s1/books", '{"pageSize":1}', 400, "takes no request body (it got 14 bytes)"],
    ["POST", "/v1/shelves/s1/books", "{", 400, "the request body is not valid JSON"],
    ["POST", "/v1/shelves/s1/books", '{"title":5}', 400, 'the request body (field "book", hsu.gwtest.v1.Book): cannot decode field hsu.gwtest.v1.Book.title from JSON: expected string, got 5'],
    ["POST", "/v1/shelves/s1/books", '{"unknownField":1}', 400, "unknownField"],
    ["POST", "/v1/shelves/s1/books", '{"pages":"1e400"}', 400, "hsu.gwtest.v1.Book.pages"],
    ["POST", "/v1/shelves/s1/books", '{"labels":{"a":3000000000}}', 400, "hsu.gwtest.v1.Book.labels"],
    ["POST", "/v1/shelves/s1/books", '{"isbn":"1","catalogNumber":2}', 400, "oneof"],
    ["PUT", "/v1/shelves/s1/books/b1", "[1,2]", 400, "the request body (hsu.gwtest.v1.Book) must be a JSON object"],
    ["PUT", "/v1/shelves/s1/books/b1", "null", 400, "must be a JSON object"],
    ["POST", "/v1/shelves/s1/books", `${"[".repeat(10_000)}${"]".repeat(10_000)}`, 400, `nests deeper than ${MAX_JSON_DEPTH} levels`],
    ["POST", "/v1/shelves/s1/books", `{"extra":${'{"a":'.repeat(70)}1${"}".repeat(70)}}`, 400, "nests deeper"],
  ])("%s %s %s", (verb, url, body, status, why) => {
    const got = fails(verb, url, body);
    expect(got.status).toBe(status);
    expect(got.message).toContain(why);
  });

  it("refuses non-JSON content types with 415 and bad UTF-8 with 400", () => {
    expect(fails("POST", "/v1/shelves/s1/books", "{}", "text/plain")).toMatchObject({ status: 415 });
    expect(fails("POST", "/v1/shelves/s1/books", "{}", "application/jsonx")).toMatchObject({ status: 415 });
    expect(req("POST", "/v1/shelves/s1/books", '{"title":"a"}', "application/merge-patch+json; charset=utf-8")).toMatchObject({ book: { title: "a" } });
    const r = table.routes.find((x) => x.method.name === "CreateBook")!;
    expect(() => buildRequest(r, { params: new Map([["parent", "shelves/s"]]), query: "", body: new Uint8Array([0x7b, 0xff, 0x7d]), contentType: undefined }, reg)).toThrow(
      "not valid UTF-8",
    );
  });
});

describe("response JSON", () => {
  const route = (name: string): Route => table.routes.find((r) => r.method.name === name)!;
  it("is proto3 JSON in lowerCamelCase with defaults emitted, int64 as strings, enums by name", () => {
    const r = route("GetBook");
    const book = create(r.method.output, { name: "n", pages: 5n, genre: 2 } as never);
    const json = responseJson(r, toBinary(r.method.output, book), reg) as Record<string, JsonValue>;
    expect(json).toMatchObject({ name: "n", title: "", pages: "5", genre: "GENRE_SCIENCE", tags: [], labels: {}, inPrint: false, rating: 0, cover: "" });
    expect(json).not.toHaveProperty("author");
    expect(json).not.toHaveProperty("copies");
  });

  it("is the response_body field alone when the rule names one", () => {
    const r = route("ListTitles");
    const out = create(r.method.output, { books: [{ title: "a" }], nextPageToken: "x" } as never);
    const json = responseJson(r, toBinary(r.method.output, out), reg) as Record<string, JsonValue>[];
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ title: "a" });
  });

  it("is a 500 naming the unit when the unit answers bytes that are not the message", () => {
    expect(() => responseJson(route("GetBook"), new Uint8Array([0xff, 0xff, 0xff]), reg)).toThrow(
      expect.objectContaining({ status: 500, message: expect.stringContaining("the unit lib answered hsu.gwtest.v1.LibraryService.GetBook") }),
    );
  });
});

describe("jsonDepth", () => {
  it.each([
    ["1", 0],
    ["{}", 1],
    ['{"a":[{"b":1}]}', 3],
    ['{"a":"[[[[{{{"}', 1],
    ['{"a":"\\"[[["}', 1],
  ])("%s", (text, depth) => {
    expect(jsonDepth(text)).toBe(depth);
  });
});

describe("transcoding random queries and bodies", () => {
  const seed = Number(process.env["HSU_FUZZ_SEED"] ?? Date.now() % 1_000_000);
  it(`builds a message or throws a 4xx RestError, never anything else (seed ${seed})`, () => {
    let s = seed;
    const rand = (n: number): number => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s % n;
    };
    const names = ["pageSize", "page_token", "genres", "ids", "since", "maxAge", "minPages", "inPrint", "filter.year.from", "filter", "nope", "limit", "score", "token", "note", "deleted"];
    const values = ["1", "-1", "abc", "true", "GENRE_FICTION", "2", "1e400", "2024-01-01T00:00:00Z", "3s", "", "%00", "%FF", "9999999999999999999999", "NaN", "AQID", "null"];
    const bodies = ["", "{}", '{"title":1}', "[", '{"pages":"x"}', '{"tags":[1]}', '"s"', "null", '{"author":{"mentor":{"mentor":{}}}}'];
    const routes = ["GET /v1/shelves/s1/books", "POST /v1/shelves/s1/books", "PUT /v1/shelves/s1/books/b1", "PATCH /v1/shelves/s1/books/b1"];
    for (let i = 0; i < 2000; i++) {
      const [verb, path] = routes[rand(routes.length)]!.split(" ") as [string, string];
      const q = Array.from({ length: rand(4) }, () => `${names[rand(names.length)]}=${values[rand(values.length)]}`).join("&");
      const body = verb === "GET" ? undefined : bodies[rand(bodies.length)];
      try {
        req(verb, q === "" ? path : `${path}?${q}`, body);
      } catch (e) {
        expect(isRestError(e), `${verb} ${path}?${q} ${body}: ${String(e)}`).toBe(true);
        expect((e as { status: number }).status, `${verb} ${path}?${q} ${body}`).toBeLessThan(500);
      }
    }
  });
});
