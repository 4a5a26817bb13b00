// scripts/package.sh, the one packaging script every template emits, run by
// dash with a stand-in build step (a shell program as bin/unit), so what it
// guarantees is checked in seconds: reproducible bytes whatever the umask and
// mtimes, safe entries, the hsu-artifact.json it writes, a `source:` snippet, and
// a refusal with the reason for each thing that would make a bad artifact.
// Every language's real build step and the signature: package.slow.test.ts.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { languages } from "./assets.ts";
import { createUnit, regenUnit } from "./generator.ts";
import { makeTempDir } from "./test-support/temp.ts";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
const quiet = () => {};

const stubBuild = `unit_version() { echo "\${STUB_VERSION-2.0.1}"; }
build_unit() {
  [ -n "\${STUB_NO_PROGRAM:-}" ] && return 0
  mkdir -p "$1/bin" "$1/lib"
  printf '#!/bin/sh\\necho stub\\n' >"$1/bin/unit"
  chmod +x "$1/bin/unit"
  echo data >"$1/lib/data.txt"
}
`;

async function project(language: (typeof languages)[number] = "go"): Promise<string> {
  const t = makeTempDir("hsu-package-script-");
  cleanups.push(t.cleanup);
  const dir = join(t.dir, "stub-unit");
  await createUnit({ name: "stub-unit", language, dir, generate: false, log: quiet });
  writeFileSync(join(dir, "scripts/package-build.sh"), stubBuild);
  writeFileSync(join(dir, "LICENSE"), "Apache-2.0\n");
  return dir;
}

function pack(dir: string, env: Record<string, string> = {}, umask = "022") {
  const r = spawnSync(dash, ["-c", `umask ${umask} && exec sh scripts/package.sh`], {
    cwd: dir,
    env: { PATH: process.env["PATH"]!, TMPDIR: join(dir, ".."), ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dash = spawnSync("sh", ["-c", "command -v dash"], { encoding: "utf8" }).stdout.trim() || "/bin/sh";
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const tarList = (file: string) => spawnSync("tar", ["-tzvf", file, "--numeric-owner", "--full-time"], { encoding: "utf8" }).stdout.trim().split("\n");

describe("scripts/package.sh", () => {
  it.each(languages)("%s: is emitted with the unit's name and language, and regen rewrites it but keeps package-build.sh", async (language) => {
    const t = makeTempDir("hsu-package-script-");
    cleanups.push(t.cleanup);
    const dir = join(t.dir, "stub-unit");
    const result = await createUnit({ name: "stub-unit", language, dir, generate: false, log: quiet });
    expect(result.manifest["package"]).toEqual(["sh", "scripts/package.sh"]);
    const script = readFileSync(join(dir, "scripts/package.sh"), "utf8");
    expect(script).toContain("\nname=stub-unit\nlanguage=" + language + "\n");
    expect(spawnSync("dash", ["-n", join(dir, "scripts/package.sh")]).status).toBe(0);
    expect(spawnSync("dash", ["-n", join(dir, "scripts/package-build.sh")]).status).toBe(0);
    writeFileSync(join(dir, "scripts/package.sh"), "# broken\n");
    writeFileSync(join(dir, "scripts/package-build.sh"), stubBuild);
    const regen = await regenUnit({ dir, generate: false, log: quiet });
    expect(regen.written).toContain("scripts/package.sh");
    expect(readFileSync(join(dir, "scripts/package.sh"), "utf8")).toBe(script);
    expect(readFileSync(join(dir, "scripts/package-build.sh"), "utf8")).toBe(stubBuild);
  });

  it("writes the same bytes under another umask and after every mtime moved; entries are relative, sorted, 0:0 at mtime 0", async () => {
    const dir = await project();
    const first = pack(dir);
    expect(first.code, first.stderr).toBe(0);
    const artifact = join(dir, "dist/stub-unit-2.0.1.tar.gz");
    const sum = sha(artifact);
    expect(first.stdout).toContain(`dist/stub-unit-2.0.1.tar.gz\nsha256 ${sum}\n`);
    expect(first.stdout).toContain(`units:\n  stub-unit:\n    command: bin/unit\n    source:\n      url: file:${dir}/dist/stub-unit-2.0.1.tar.gz\n      sha256: ${sum}\n      version: "2.0.1"\n`);
    expect(first.stdout).not.toContain("trusted_keys");

    const later = new Date(Date.UTC(2031, 5, 6, 7, 8, 9));
    for (const file of ["LICENSE", "README.md", "scripts/package-build.sh"]) utimesSync(join(dir, file), later, later);
    const second = pack(dir, {}, "077");
    expect(second.code, second.stderr).toBe(0);
    expect(sha(artifact)).toBe(sum);

    const listing = tarList(artifact);
    expect(listing.map((l) => l.split(/\s+/).at(-1))).toEqual([
      "./",
      "./LICENSE",
      "./README.md",
      "./bin/",
      "./bin/unit",
      "./hsu-artifact.json",
      "./lib/",
      "./lib/data.txt",
    ]);
    for (const line of listing) expect(line).toMatch(/^(-rw-r--r--|-rwxr-xr-x|drwxr-xr-x) 0\/0 +\d+ 1970-01-01 00:00:00 /);
    const manifest = spawnSync("tar", ["-xzOf", artifact, "./hsu-artifact.json"], { encoding: "utf8" }).stdout;
    expect(JSON.parse(manifest)).toEqual({ name: "stub-unit", version: "2.0.1", language: "go", command: "bin/unit" });
    expect(readdirSync(join(dir, "dist"))).toEqual(["stub-unit-2.0.1.tar.gz"]);
  });

  it("removes the signature of an earlier build, so an unsigned rebuild is never beside a stale .minisig", async () => {
    const dir = await project();
    mkdirSync(join(dir, "dist"));
    writeFileSync(join(dir, "dist/stub-unit-2.0.1.tar.gz.minisig"), "untrusted comment: an older build\n");
    expect(pack(dir).code).toBe(0);
    expect(readdirSync(join(dir, "dist"))).toEqual(["stub-unit-2.0.1.tar.gz"]);
  });

  it("UNIT_VERSION overrides the version; one that is no file name is refused before anything is built", async () => {
    const dir = await project();
    expect(pack(dir, { UNIT_VERSION: "3.0.0-rc.1" }).code).toBe(0);
    expect(existsSync(join(dir, "dist/stub-unit-3.0.0-rc.1.tar.gz"))).toBe(true);
    for (const bad of ["../../etc/x", "1.0 beta", "-rf", ""]) {
      const r = pack(dir, { STUB_VERSION: bad });
      expect(r.code, bad).toBe(1);
      expect(r.stderr).toMatch(/package: the version '.*' is not usable in a file name: .*UNIT_VERSION=1\.2\.3/);
    }
    expect(existsSync(join(dir, "..", "etc"))).toBe(false);
  });

  it("refuses a build step that made no bin/unit, and leaves no artifact", async () => {
    const dir = await project();
    const r = pack(dir, { STUB_NO_PROGRAM: "1" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("package: scripts/package-build.sh: build_unit did not put an executable at bin/unit");
    expect(existsSync(join(dir, "dist"))).toBe(false);
  });

  it("refuses a signing key that is not there, or no minisign on PATH, before building", async () => {
    const dir = await project();
    const missing = pack(dir, { HSU_SIGNING_KEY: "nope.key" });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`HSU_SIGNING_KEY=${dir}/nope.key: no such file (make a key with 'minisign -G`);
    // A relative key is where the caller is, not in the project.
    const elsewhere = spawnSync(dash, ["-c", "exec sh stub-unit/scripts/package.sh"], { cwd: join(dir, ".."), env: { PATH: process.env["PATH"]!, HSU_SIGNING_KEY: "nope.key" }, encoding: "utf8" });
    expect(elsewhere.stderr).toContain(`HSU_SIGNING_KEY=${join(dir, "..")}/nope.key: no such file`);
    writeFileSync(join(dir, "release.key"), "not a key\n");
    // A PATH with the tools the script needs but no minisign.
    const bin = join(dir, "..", "bin");
    mkdirSync(bin);
    for (const tool of ["sh", "dirname", "tar", "gzip", "sha256sum", "cut", "grep", "mktemp", "rm", "mkdir", "chmod", "cp", "mv", "printf", "cat", "tail"]) {
      const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
      if (found.startsWith("/")) spawnSync("ln", ["-s", found, join(bin, tool)]);
    }
    const noMinisign = pack(dir, { HSU_SIGNING_KEY: join(dir, "release.key"), PATH: bin });
    expect(noMinisign.code).toBe(1);
    expect(noMinisign.stderr).toContain("HSU_SIGNING_KEY is set but minisign is not on PATH: install it (apt-get install minisign");
    expect(existsSync(join(dir, "dist"))).toBe(false);
  });

  it("refuses a tar that is not GNU tar, naming TAR=gtar", async () => {
    const dir = await project();
    const fake = join(dir, "..", "bsdtar");
    writeFileSync(fake, "#!/bin/sh\necho 'bsdtar 3.7.2 - libarchive 3.7.2'\n", { mode: 0o755 });
    const r = pack(dir, { TAR: fake });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not GNU tar, which a reproducible archive needs .*TAR=gtar/);
  });
});
