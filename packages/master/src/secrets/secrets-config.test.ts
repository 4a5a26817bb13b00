import { describe, expect, it } from "vitest";
import { parseDeployment, SpecError } from "../config/index.ts";
import { toManagedInput } from "../daemon/unit-specs.ts";

const parse = (units: string) => parseDeployment(`units:\n${units}`, "hsu.yaml", "/tmp", { environment: false });
function issues(units: string): string[] {
  try {
    parse(units);
  } catch (e) {
    if (e instanceof SpecError) return e.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`);
    throw e;
  }
  throw new Error("accepted");
}

describe("hsu.yaml secrets:", () => {
  it("reads the list form and the mapping form into one shape, and hands only names and modes to the supervisor", () => {
    const d = parse(`  a:\n    command: sleep\n    secrets: [db_password, tls.key]\n  b:\n    command: sleep\n    secrets:\n      db_password: {}\n      api_key: { env: API_KEY }\n      cert: { file: server.pem }\n`);
    expect(d.units.a!.secrets).toEqual([{ name: "db_password" }, { name: "tls.key" }]);
    expect(d.units.b!.secrets).toEqual([{ name: "db_password" }, { name: "api_key", env: "API_KEY" }, { name: "cert", file: "server.pem" }]);
    expect(toManagedInput(d.units.b!).credentials).toEqual(d.units.b!.secrets);
    expect(toManagedInput(parse(`  c:\n    command: sleep\n`).units.c!).credentials).toBeUndefined();
  });

  it("refuses hostile and conflicting entries with path:line", () => {
    const found = issues(
      [
        "  a:",
        "    command: sleep",
        '    secrets: ["../x", "a/b", ".hidden", ok]', // line 4
        "  b:",
        "    command: sleep",
        "    env: { API_KEY: x }",
        "    stdout: inherit", // line 8
        "    secrets:",
        "      k1: { env: API_KEY }", // line 10
        "      k2: { env: HSU_TOKEN }",
        "      k3: { env: 1BAD }",
        "      k4: { file: ../../etc/passwd }",
        "      k5: { env: X, file: y }",
        "      k6: {}",
        "      other: { file: k6 }", // line 16
        "  c:",
        "    kind: unmanaged",
        "    pid: 1",
        "    secrets: [x]", // line 20
        "",
      ].join("\n"),
    );
    const text = found.join("\n");
    expect(text).toContain('4: units.a.secrets[0]: expected letters, digits');
    expect(text).toContain('got "../x"');
    expect(text).toContain('units.a.secrets[1]: expected letters');
    expect(text).toContain('units.a.secrets[2]: expected letters');
    expect(text).toMatch(/8: units\.b\.stdout: a unit with secrets cannot have stdout: inherit/);
    expect(text).toMatch(/10: units\.b\.secrets\.k1\.env: API_KEY is also set in units\.b\.env/);
    expect(text).toMatch(/units\.b\.secrets\.k2\.env: HSU_TOKEN: HSU_ variables are the master's/);
    expect(text).toMatch(/units\.b\.secrets\.k3\.env: expected an environment variable name/);
    expect(text).toMatch(/units\.b\.secrets\.k4\.file: expected letters/);
    expect(text).toMatch(/units\.b\.secrets\.k5: give either env .* or file .*, not both/);
    expect(text).toMatch(/16: units\.b\.secrets\.other: the file "k6" is already that of secret "k6"/);
    expect(text).toMatch(/20: units\.c\.secrets: an unmanaged unit is not started by the master/);
  });

  it("is in the JSON schema", async () => {
    const { deploymentJsonSchema } = await import("../config/index.ts");
    expect(JSON.stringify(deploymentJsonSchema())).toContain("HSU_CREDENTIALS_DIR");
  });
});
