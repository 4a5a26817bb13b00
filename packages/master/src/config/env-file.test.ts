import { describe, expect, it } from "vitest";
import { parseEnvFile } from "./env-file.ts";
import { parseTemplate, renderTemplate, MAX_TEMPLATE_BYTES } from "./template.ts";

const env = (t: string) => Object.fromEntries(parseEnvFile(t).entries.map((e) => [e.key, e.value]));

describe("parseEnvFile", () => {
  it("reads the dotenv forms compose and systemd accept", () => {
    expect(
      env('# c\n\nA=1\nexport B = two words  # note\nC="x\\ny\\t\\"q\\" \\$HOME \\z"\nD=\'lit $X \\n\'\nE=\nF=a#b\nG="multi\nline"\n'),
    ).toEqual({ A: "1", B: "two words", C: 'x\ny\t"q" $HOME \\z', D: "lit $X \\n", E: "", F: "a#b", G: "multi\nline" });
  });
  it("later lines win; no ${} expansion", () => expect(env("A=1\nA=${A}2\n")).toEqual({ A: "${A}2" }));
  it("reads CRLF files and drops a BOM", () => expect(env("\uFEFFA=1\r\nB='2'\r\n")).toEqual({ A: "1", B: "2" }));
  it("gives each bad line with its number and returns nothing", () => {
    const r = parseEnvFile('A=1\nnot a line\n1X=2\nB="open\n');
    expect(r.entries).toEqual([]);
    expect(r.issues.map((i) => i.line)).toEqual([2, 3, 4]);
    expect(r.issues[0]!.message).toMatch(/no "="/);
    expect(r.issues[2]!.message).toMatch(/never closed/);
  });
  it("refuses NUL bytes, stray CR and text after a closing quote", () => {
    expect(parseEnvFile("A=1\nB=x\0y\n").issues).toEqual([{ line: 2, message: expect.stringMatching(/NUL/) }]);
    expect(parseEnvFile("A=x\ry\n").issues[0]!.line).toBe(1);
    expect(parseEnvFile("A='x' y\n").issues[0]!.message).toMatch(/after the closing quote/);
  });
});

describe("templates", () => {
  const values = {
    vars: (n: string) => ({ port: "8080" })[n],
    env: (n: string) => ({ HOME: "/h" })[n],
    unit: (id: string, f: string) => (id === "api" && f === "address" ? { value: "unix:/r/api.sock" } : { error: `no unit "${id}"` }),
    secret: async () => {
      throw new Error("secrets are not configured");
    },
  };
  it("renders vars, env, unit fields and literals; values are not parsed again", async () => {
    const { parts, issues } = parseTemplate('a={{ vars.port }}\nb={{env.HOME}} c={{ units.api.address }} {{ "{{" }}x}}');
    expect(issues).toEqual([]);
    expect((await renderTemplate(parts, { ...values, vars: () => "{{ env.HOME }}" })).text).toBe("a={{ env.HOME }}\nb=/h c=unix:/r/api.sock {{x}}");
  });
  it("names the line of every unknown name and bad tag", async () => {
    const p = parseTemplate("x\n{{ vars.nope }}\n{{ nonsense }}\n{{ units.api.colour }}\n{{ env.NOPE }} {{ secret \"db\" }}\n{{ open");
    expect(p.issues.map((i) => i.line)).toEqual([3, 4, 6]);
    const r = await renderTemplate(p.parts, values);
    expect(r.issues.map((i) => [i.line, i.message])).toEqual([
      [2, expect.stringMatching(/unknown variable "nope"/)],
      [5, expect.stringMatching(/unknown environment variable "NOPE"/)],
      [5, expect.stringMatching(/secrets are not configured/)],
    ]);
    expect(r.text).toBe("");
  });
  it("a huge template with many tags parses in one bounded pass", () => {
    const big = "{{ vars.port }}".repeat(Math.floor(MAX_TEMPLATE_BYTES / 15));
    expect(parseTemplate(big).parts.length).toBe(Math.floor(MAX_TEMPLATE_BYTES / 15));
  });
});
