import type { DescService } from "@bufbuild/protobuf";
import { beforeAll, describe, expect, it } from "vitest";
import { buildRegistry } from "../../testdata/descriptors.ts";
import type { RoutedService } from "../protocol.ts";
import { isRestError } from "./errors.ts";
import { buildRoutes, createRouter, RouteError, type RouteTable } from "./routes.ts";

let library: DescService;
let bad: (name: string) => DescService;
let table: RouteTable;

beforeAll(() => {
  const reg = buildRegistry("rest", "rest-bad");
  library = reg.getService("hsu.gwtest.v1.LibraryService")!;
  bad = (name) => reg.getService(`hsu.gwbad.v1.${name}`)!;
  table = buildRoutes([svc(library, "/lib")]);
});

function svc(service: DescService, prefix = "", unit = "lib"): RoutedService {
  return { unit, service, prefix, auth: "none" };
}

describe("buildRoutes", () => {
  it("makes one route per binding of every annotated method, prefixed", () => {
    const got = table.routes.map((r) => `${r.verb} ${r.template.source} ${r.method.name}`).sort();
    expect(got).toEqual(
      [
        "DELETE /lib/v1/{name=shelves/*/books/*} DeleteBook",
        "GET /lib/v1/books/{name} GetBook",
        "GET /lib/v1/files/{name=**} GetFile",
        "GET /lib/v1/shelves/*/raw/{name=**} GetShelfFile",
        "GET /lib/v1/{name=shelves/*/books/*} GetBook",
        "GET /lib/v1/{parent=shelves/*}/books ListBooks",
        "GET /lib/v1/{parent=shelves/*}/books:watch WatchBooks",
        "GET /lib/v1/{parent=shelves/*}/titles ListTitles",
        "HEAD /lib/v1/check/{name} CheckBook",
        "PATCH /lib/v1/{book.name=shelves/*/books/*} UpdateBook",
        "POST /lib/v1/{name=shelves/*/books/*}:move MoveBook",
        "POST /lib/v1/{name=shelves/*}:rename RenameShelf",
        "POST /lib/v1/{parent=shelves/*}/books CreateBook",
        "PUT /lib/v1/{name=shelves/*/books/*} ReplaceBook",
      ].sort(),
    );
    expect(table.skipped.map((s) => [s.method.name, s.reason])).toEqual([["Upload", expect.stringContaining("client streaming is not served by REST")]]);
    const byName = (n: string) => table.routes.find((r) => r.method.name === n)!;
    expect(byName("CreateBook").body).toMatchObject({ kind: "field", field: { name: "book" } });
    expect(byName("ReplaceBook").body).toEqual({ kind: "all" });
    expect(byName("GetBook").body).toEqual({ kind: "none" });
    expect(byName("ListTitles").responseBody?.name).toBe("books");
    expect(byName("WatchBooks").streaming).toBe(true);
    expect([...byName("UpdateBook").pathFields.keys()]).toEqual(["book.name"]);
  });

  it.each([
    ["BadTemplateService", 'hsu.gwbad.v1.BadTemplateService.Get: path template "v1/{name}": it must start with "/"'],
    ["UnknownFieldService", 'hsu.gwbad.v1.UnknownFieldService.Get: path template "/v1/{nope}": "nope" is not a field of hsu.gwbad.v1.Req'],
    ["RepeatedPathService", 'the field "tags" is repeated; a path variable must bind a single scalar'],
    ["MessagePathService", 'the field "inner" is a message'],
    ["UnknownBodyService", 'hsu.gwbad.v1.UnknownBodyService.Create: body "nobody" is not a field of hsu.gwbad.v1.Req'],
    ["UnknownResponseBodyService", 'response_body "missing" is not a field of hsu.gwbad.v1.Req'],
    ["NoPatternService", "the rule has no pattern"],
    ["NestedBindingService", "additional bindings cannot have their own additional_bindings"],
    [
      "ConflictService",
      'GET "/v1/things/{inner.id}" of hsu.gwbad.v1.ConflictService.B (unit lib) conflicts with GET "/v1/things/{name}" of hsu.gwbad.v1.ConflictService.A (unit lib)',
    ],
  ])("reports %s", (name, why) => {
    let err: unknown;
    try {
      buildRoutes([svc(bad(name))]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RouteError);
    expect((err as Error).message).toContain(why);
  });

  it("reports every problem at once, and the same service twice under one prefix as conflicts", () => {
    let err: unknown;
    try {
      buildRoutes([svc(bad("UnknownFieldService")), svc(bad("UnknownBodyService")), svc(library, "/a", "u1"), svc(library, "/a", "u2")]);
    } catch (e) {
      err = e;
    }
    const problems = (err as RouteError).problems;
    expect(problems.filter((p) => p.includes("conflicts with")).length).toBe(14);
    expect(problems.some((p) => p.includes('"nope"'))).toBe(true);
    expect(problems.some((p) => p.includes('"nobody"'))).toBe(true);
    // The same service under two prefixes is fine.
    expect(buildRoutes([svc(library, "/a"), svc(library, "/b")]).routes.length).toBe(28);
  });

  it("refuses a bad prefix", () => {
    expect(() => buildRoutes([svc(library, "lib/")])).toThrow('the route prefix "lib/" must start with "/"');
  });
});

describe("router", () => {
  const match = (verb: string, path: string) => {
    const m = createRouter(table.routes)(verb, path);
    return m === undefined ? undefined : [m.route.method.name, Object.fromEntries(m.params)];
  };
  it.each<[string, string, unknown]>([
    ["GET", "/lib/v1/shelves/s1/books/b1", ["GetBook", { name: "shelves/s1/books/b1" }]],
    ["GET", "/lib/v1/books/b1", ["GetBook", { name: "b1" }]],
    ["GET", "/lib/v1/shelves/s1/books", ["ListBooks", { parent: "shelves/s1" }]],
    ["GET", "/lib/v1/shelves/s1/books:watch", ["WatchBooks", { parent: "shelves/s1" }]],
    ["POST", "/lib/v1/shelves/s1/books", ["CreateBook", { parent: "shelves/s1" }]],
    ["PATCH", "/lib/v1/shelves/s1/books/b1", ["UpdateBook", { "book.name": "shelves/s1/books/b1" }]],
    ["PUT", "/lib/v1/shelves/s1/books/b1", ["ReplaceBook", { name: "shelves/s1/books/b1" }]],
    ["DELETE", "/lib/v1/shelves/s1/books/b1", ["DeleteBook", { name: "shelves/s1/books/b1" }]],
    ["POST", "/lib/v1/shelves/s1/books/b1:move", ["MoveBook", { name: "shelves/s1/books/b1" }]],
    ["POST", "/lib/v1/shelves/s1:rename", ["RenameShelf", { name: "shelves/s1" }]],
    ["HEAD", "/lib/v1/check/b%2F1", ["CheckBook", { name: "b/1" }]],
    ["GET", "/lib/v1/files/a/b/c.txt", ["GetFile", { name: "a/b/c.txt" }]],
    ["GET", "/lib/v1/shelves/s1/raw/x/y", ["GetShelfFile", { name: "x/y" }]],
    // A verb only some other method has is part of the last segment, as in grpc-gateway.
    ["GET", "/lib/v1/shelves/s1/books/b1:move", ["GetBook", { name: "shelves/s1/books/b1:move" }]],
    ["GET", "/v1/books/b1", undefined],
    ["GET", "/lib/v2/books/b1", undefined],
    ["GET", "/lib", undefined],
  ])("%s %s", (verb, path, want) => {
    expect(match(verb, path)).toEqual(want);
  });

  it.each([
    ["POST", "/lib/v1/shelves/s1/books/b1", "DELETE, GET, PATCH, PUT"],
    ["DELETE", "/lib/v1/shelves/s1/books", "GET, POST"],
    ["PUT", "/lib/v1/shelves/s1:rename", "POST"],
  ])("%s %s is 405 with Allow: %s", (verb, path, allow) => {
    let err: unknown;
    try {
      match(verb, path);
    } catch (e) {
      err = e;
    }
    expect(isRestError(err)).toBe(true);
    expect(err).toMatchObject({ status: 405, headers: { allow } });
  });

  it.each(["/lib/v1/../v1/books/b1", "/lib/v1/books/%2e%2e", "/lib//v1/books/b1", "/lib/v1/books/b%001"])("refuses the hostile path %s with 400", (path) => {
    expect(() => match("GET", path)).toThrow(expect.objectContaining({ status: 400 }));
  });
});

describe("router on random paths", () => {
  // Seeded so a failure replays: the seed is in the test name.
  const seed = Number(process.env["HSU_FUZZ_SEED"] ?? Date.now() % 1_000_000);
  it(`answers a match, no match, or a RestError, never anything else (seed ${seed})`, () => {
    let s = seed;
    const rand = (n: number): number => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s % n;
    };
    const atoms = ["lib", "v1", "shelves", "books", "s1", "b1", "files", "raw", "check", ":move", ":watch", "..", ".", "%2e", "%2F", "%00", "%", "%zz", "%C3%A9", "", "a:b", "*", "{x}"];
    const route = createRouter(table.routes);
    for (let i = 0; i < 3000; i++) {
      const n = 1 + rand(8);
      const path = `/${Array.from({ length: n }, () => atoms[rand(atoms.length)]).join("/")}`;
      for (const verb of ["GET", "POST", "PUT"]) {
        try {
          const m = route(verb, path);
          if (m !== undefined) {
            expect(m.route.verb, path).toBe(verb);
            for (const v of m.params.values()) expect(v.split("/").some((p) => p === ".." || p === "."), path).toBe(false);
          }
        } catch (e) {
          expect(isRestError(e), `${verb} ${path}: ${String(e)}`).toBe(true);
        }
      }
    }
  });
});
