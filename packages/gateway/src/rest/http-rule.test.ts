import { describe, expect, it } from "vitest";
import { isRestError } from "./errors.ts";
import { compareSpecificity, matchTemplate, parseTemplate, splitRequestPath, templateShape } from "./http-rule.ts";

const W = "pkg.Svc.Method";

describe("parseTemplate", () => {
  it.each([
    ["/v1/books", "/=v1/=books", []],
    ["/v1/{id}", "/=v1/*", [["id", 1, 2, false]]],
    ["/v1/{name=shelves/*/books/*}", "/=v1/=shelves/*/=books/*", [["name", 1, 5, true]]],
    ["/v1/{book.name=shelves/*}", "/=v1/=shelves/*", [["book.name", 1, 3, true]]],
    ["/v1/*/x", "/=v1/*/=x", []],
    ["/v1/files/{path=**}", "/=v1/=files/**", [["path", 2, 3, true]]],
    ["/v1/**", "/=v1/**", []],
    ["/v1/{name=*}:cancel", "/=v1/*:cancel", [["name", 1, 2, false]]],
    ["/v1/books:batchGet", "/=v1/=books:batchGet", []],
    ["/v1/{a}/{b.c}", "/=v1/*/*", [["a", 1, 2, false], ["b.c", 2, 3, false]]],
    ["/v1/a%20b", "/=v1/=a b", []],
  ])("%s", (src, shape, vars) => {
    const t = parseTemplate(src, W);
    expect(templateShape(t)).toBe(shape);
    expect(t.variables.map((v) => [v.fieldPath.join("."), v.start, v.end, v.multi])).toEqual(vars);
  });

  it.each([
    ["v1/books", 'must start with "/"'],
    ["/", "it has no segments"],
    ["/v1//books", "empty segment"],
    ["/v1/{id", 'unbalanced "{"'],
    ["/v1/id}", 'unbalanced "}"'],
    ["/v1/{a={b}}", "contains another variable"],
    ["/v1/{1a}", "is not a field path"],
    ["/v1/{a.}", "is not a field path"],
    ["/v1/{a}/{a}", 'the field "a" is bound twice'],
    ["/v1/**/x", '"**" must be the last segment'],
    ["/v1/x{a}", "a variable must be a whole segment"],
    ["/v1/../x", 'the segment ".." is not allowed'],
    ["/v1/a b", "is not a literal"],
    ["/v1/x:", "the verb"],
    ["/v1/{name=}", "empty segment"],
  ])("rejects %s", (src, why) => {
    expect(() => parseTemplate(src, W)).toThrow(`${W}: path template "${src}": `);
    expect(() => parseTemplate(src, W)).toThrow(why);
  });
});

describe("matchTemplate", () => {
  const m = (tpl: string, path: string) => {
    const r = matchTemplate(parseTemplate(tpl, W), splitRequestPath(path));
    return r === undefined ? undefined : Object.fromEntries(r);
  };
  it.each<[string, string, Record<string, string> | undefined]>([
    ["/v1/books", "/v1/books", {}],
    ["/v1/books", "/v1/books/x", undefined],
    ["/v1/books", "/v1/Books", undefined],
    ["/v1/{id}", "/v1/42", { id: "42" }],
    ["/v1/{id}", "/v1/a%2Fb", { id: "a/b" }],
    ["/v1/{id}", "/v1/a%20b%C3%A9", { id: "a bé" }],
    ["/v1/{id}", "/v1/a/b", undefined],
    ["/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/books/b1", { name: "shelves/s1/books/b1" }],
    ["/v1/{name=shelves/*/books/*}", "/v1/shelves/s%2F1/books/b1", { name: "shelves/s%2F1/books/b1" }],
    ["/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/novels/b1", undefined],
    ["/v1/files/{path=**}", "/v1/files/a/b/c", { path: "a/b/c" }],
    ["/v1/files/{path=**}", "/v1/files", { path: "" }],
    ["/v1/{name=*}:cancel", "/v1/op1:cancel", { name: "op1" }],
    ["/v1/{name=*}:cancel", "/v1/op1:stop", undefined],
    ["/v1/{name=*}:cancel", "/v1/op1", undefined],
    ["/v1/{name=*}:cancel", "/v1/op1%3Acancel", undefined],
    ["/v1/{name}", "/v1/op1:cancel", { name: "op1:cancel" }],
    ["/v1/files/{p=**}:get", "/v1/files/a/b:get", { p: "a/b" }],
    ["/x/*/{a}", "/x/anything/7", { a: "7" }],
  ])("%s ~ %s", (tpl, path, want) => {
    expect(m(tpl, path)).toEqual(want);
  });
});

describe("splitRequestPath refuses hostile paths", () => {
  it.each([
    ["/v1/../etc/passwd", 400, '".." segment'],
    ["/v1/%2e%2e/etc", 400, '".." segment'],
    ["/v1/./x", 400, '"." segment'],
    ["/v1//x", 400, "empty segment"],
    ["/v1/x/", 400, "empty segment"],
    ["/v1/a%00b", 400, "NUL"],
    ["/v1/%zz", 400, "malformed percent-escape"],
    ["/v1/%E0%A4%A", 400, "malformed percent-escape"],
    ["v1/x", 400, 'does not start with "/"'],
    [`/${"a".repeat(9000)}`, 414, "longer than"],
    [`/${"a/".repeat(300)}a`, 414, "segments"],
  ])("%s", (path, status, why) => {
    let err: unknown;
    try {
      splitRequestPath(path);
    } catch (e) {
      err = e;
    }
    expect(isRestError(err)).toBe(true);
    expect(err).toMatchObject({ status, code: 3 });
    expect((err as Error).message).toContain(why);
  });
});

describe("compareSpecificity", () => {
  it("orders literal before variable before deep, and a verb first", () => {
    const ts = ["/v1/{a=**}", "/v1/{id}", "/v1/special", "/v1/{id}:run", "/v1/{id}/x"].map((s) => parseTemplate(s, W));
    expect(ts.sort(compareSpecificity).map((t) => t.source)).toEqual(["/v1/special", "/v1/{id}/x", "/v1/{id}:run", "/v1/{id}", "/v1/{a=**}"]);
  });
});
