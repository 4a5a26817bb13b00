// installSources end to end on file: URLs (the HTTP side is in cli/install.slow.test.ts).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HsuError } from "@hsu/client";
import { parseDeployment } from "../config/index.ts";
import { installSources } from "./install.ts";
import { generateKeyPair, signFile } from "./minisign.ts";

const tmp = mkdtempSync(join(tmpdir(), "hsu-install-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let zipSha = "";
let pub = "";

beforeAll(async () => {
  // A zip made with Python's zipfile: bin/app, executable.
  execFileSync("python3", ["-c", "import zipfile\nz=zipfile.ZipFile('app.zip','w')\ni=zipfile.ZipInfo('bin/app'); i.external_attr=0o100755<<16\nz.writestr(i, '#!/bin/sh\\necho zip\\n')\nz.close()"], { cwd: tmp });
  zipSha = createHash("sha256").update(readFileSync(join(tmp, "app.zip"))).digest("hex");
  const keys = await generateKeyPair();
  pub = keys.publicKey.base64;
  writeFileSync(join(tmp, "sigs-app.minisig"), await signFile(join(tmp, "app.zip"), keys.secretKey));
});

const load = (units: string, master = "") => parseDeployment(`master:\n  state_dir: ${join(tmp, "state")}\n${master}units:\n${units}`, "hsu.yaml", tmp, { environment: false });

describe("installSources", () => {
  it("installs a zip by sha256, leaves it alone next time, and switches a second unit with the same pin without a download", async () => {
    const d = load(`  a:\n    command: bin/app\n    source: { url: "file:app.zip", sha256: "${zipSha}" }\n  b:\n    command: bin/app\n    source: { url: "file:gone.zip", sha256: "${zipSha}" }\n`);
    const first = await installSources(d, ["a"]);
    expect(first).toMatchObject([{ unit: "a", action: "installed", sha256: zipSha }]);
    expect(readFileSync(join(d.units.a!.command!), "utf8")).toContain("echo zip");
    expect((await installSources(d, ["a"]))[0]!.action).toBe("current");
    // gone.zip does not exist: the pinned tree is in the store, so nothing is fetched.
    expect((await installSources(d, ["b"]))[0]).toMatchObject({ unit: "b", action: "switched" });
    expect(readlinkSync(join(tmp, "state", "artifacts", "units", "b", "current"))).toBe(`../../trees/${zipSha}`);
  });

  it("checks a signature at a path relative to hsu.yaml against an inline trusted key", async () => {
    const d = load(`  c:\n    command: bin/app\n    source: { url: "file:app.zip", signature: sigs-app.minisig }\n`, `  trusted_keys: ["${pub}"]\n`);
    expect((await installSources(d, ["c"]))[0]).toMatchObject({ unit: "c", keyId: expect.stringMatching(/^[0-9A-F]{1,16}$/) });
  });

  it("a source unit's program is checked against the tree of the source named now, never an older one", async () => {
    const spec = (command: string, pin: string) => `master:\n  state_dir: ${join(tmp, "state")}\nunits:\n  a:\n    command: ${command}\n    source: { url: "file:app.zip", sha256: "${pin}" }\n`;
    await installSources(parseDeployment(spec("bin/app", zipSha), "hsu.yaml", tmp, { environment: false }), ["a"]);
    expect(() => parseDeployment(spec("bin/app", zipSha), "hsu.yaml", tmp)).not.toThrow();
    expect(() => parseDeployment(spec("bin/renamed", zipSha), "hsu.yaml", tmp)).toThrow(/hsu\.yaml:5:\d+: units\.a\.command: ".*current\/bin\/renamed" does not exist/);
    // A new version may rename its program: the installed (older) tree does not decide.
    expect(() => parseDeployment(spec("bin/renamed", "b".repeat(64)), "hsu.yaml", tmp)).not.toThrow();
  });

  it("names a unit without source: or an unknown one", async () => {
    const d = load(`  plain:\n    command: sleep\n`);
    await expect(installSources(d, ["plain"])).rejects.toThrow(/unit "plain" has no source: to install/);
    await expect(installSources(d, ["nope"])).rejects.toSatisfy((e) => HsuError.is(e, "not_found"));
    expect(await installSources(d, undefined)).toEqual([]);
  });
});
