// `sh scripts/package.sh` (template.json's `package`) in a unit generated
// from scratch for each language: it builds for release, writes
// dist/<name>-<version>.tar.gz with safe entries only, signs it with the
// minisign CLI, gives the same bytes when built again under another umask
// after the sources' mtimes changed, and the program unpacked from it serves
// gRPC health and stops on SIGTERM. The Go artifact is then installed and
// started by a master from the hsu.yaml the script printed.
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareUnit, type PreparedUnit } from "@hsu/conformance";
import { healthCheck, repoRoot, run, startUnit, stopUnit, waitForSocket } from "./test-support/first-hour.ts";
import { makeTempDir } from "./test-support/temp.ts";

const minutes = (n: number) => n * 60_000;
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const execFileAsync = promisify(execFile);
const hsuCli = join(repoRoot, "packages/master/src/cli/bin.ts");

/** What one `package` run printed: the artifact path, its sha256, and the hsu.yaml snippet. */
function parsePackageOutput(output: string): { artifact: string; sum: string; yaml: string } {
  const artifact = /^(dist\/\S+\.tar\.gz)$/m.exec(output)?.[1];
  const sum = /^sha256 ([0-9a-f]{64})$/m.exec(output)?.[1];
  const yaml = output.slice(output.indexOf("# hsu.yaml"));
  if (!artifact || !sum || !yaml.includes("units:")) throw new Error(`package printed no artifact, sha256 or hsu.yaml:\n${output}`);
  return { artifact, sum, yaml };
}

/** Sets every source file's mtime to `when`: a fresh checkout, as far as the archive can tell. */
function touchSources(dir: string, when: Date): void {
  const skip = new Set(["target", ".venv", "build", "dist", "node_modules", "bin", ".git"]);
  for (const entry of readdirSync(dir)) {
    if (skip.has(entry)) continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) touchSources(full, when);
    else utimesSync(full, when, when);
  }
}

describe("create-hsu-unit projects: the package target", () => {
  const temp = makeTempDir("hsu-package-");
  const env: Record<string, string> = {};

  beforeAll(() => {
    execFileSync("bash", [join(repoRoot, "scripts/tools/debian.sh"), "minisign"], { stdio: "inherit" });
    execFileSync("minisign", ["-G", "-W", "-p", "release.pub", "-s", "release.key"], { cwd: temp.dir, stdio: "pipe" });
    execFileSync("minisign", ["-G", "-W", "-p", "other.pub", "-s", "other.key"], { cwd: temp.dir, stdio: "pipe" });
    env["HSU_SIGNING_KEY"] = join(temp.dir, "release.key");
  });
  afterAll(() => temp.cleanup());

  let goUnit: { dir: string; artifact: string; yaml: string } | undefined;

  it.each(["go", "rust", "ts", "python"] as const)(
    "%s: a signed, reproducible artifact whose program serves health and stops on SIGTERM",
    async (lang) => {
      const t0 = performance.now();
      let unit: PreparedUnit | undefined;
      try {
        unit = await prepareUnit(lang);
        const { dir, name } = unit;
        expect(unit.manifest).toMatchObject({ package: ["sh", "scripts/package.sh"] });
        const command = unit.manifest as unknown as { package: string[] };
        const first = await run(command.package, { cwd: dir, env, deadlineMs: minutes(30) });
        const { artifact, sum, yaml } = parsePackageOutput(first.output);
        expect(artifact).toBe(`dist/${name}-0.1.0.tar.gz`);
        const file = join(dir, artifact);
        expect(sha256(file)).toBe(sum);
        console.log(`${lang}: package took ${((performance.now() - t0) / 1000).toFixed(0)}s, ${(statSync(file).size / 1e6).toFixed(1)} MB`);

        // Entries: relative, no `..`, owned by 0:0 at mtime 0, no group/other write.
        const listing = execFileSync("tar", ["-tvzf", file, "--numeric-owner", "--full-time"], { encoding: "utf8" }).trim().split("\n");
        const names = execFileSync("tar", ["-tzf", file], { encoding: "utf8" }).trim().split("\n");
        for (const entry of names) {
          expect(entry.startsWith("/"), entry).toBe(false);
          expect(entry.split("/"), entry).not.toContain("..");
        }
        expect(names).toEqual(expect.arrayContaining(["./bin/unit", "./hsu-artifact.json", "./README.md"]));
        expect([...names].sort()).toEqual(names);
        for (const line of listing) expect(line, line).toMatch(/^[-dl]r[-w][-x]r-[-x]r-[-x] 0\/0 .* 1970-01-01 00:00:00 /);

        // The signature: minisign verifies it with the release key, not with another one, and not after a byte changes.
        execFileSync("minisign", ["-V", "-p", join(temp.dir, "release.pub"), "-m", file], { stdio: "pipe" });
        expect(() => execFileSync("minisign", ["-V", "-p", join(temp.dir, "other.pub"), "-m", file], { stdio: "pipe" })).toThrow();
        const tampered = join(temp.dir, `${lang}-tampered.tar.gz`);
        const bytes = readFileSync(file);
        bytes[bytes.length >> 1]! ^= 1;
        writeFileSync(tampered, bytes);
        copyFileSync(`${file}.minisig`, `${tampered}.minisig`);
        expect(() => execFileSync("minisign", ["-V", "-p", join(temp.dir, "release.pub"), "-m", tampered], { stdio: "pipe" })).toThrow();
        expect(yaml).toContain(`    - "${readFileSync(join(temp.dir, "release.pub"), "utf8").trim().split("\n").at(-1)}"`);
        expect(yaml).toContain(`      sha256: ${sum}`);

        // Again, as a fresh checkout would be built: every source mtime moved, a umask that makes files 0600.
        touchSources(dir, new Date(Date.UTC(2030, 0, 2, 3, 4, 5)));
        const second = await run(["sh", "-c", `umask 077 && exec ${command.package.join(" ")}`], { cwd: dir, env, deadlineMs: minutes(30) });
        expect(parsePackageOutput(second.output).sum, "a second build gave other bytes").toBe(sum);

        // Unpacked, the tree describes itself and its program serves on its own.
        const tree = join(temp.dir, `${lang}-tree`);
        mkdirSync(tree);
        execFileSync("tar", ["-xzf", file, "-C", tree]);
        expect(JSON.parse(readFileSync(join(tree, "hsu-artifact.json"), "utf8"))).toEqual({ name, version: "0.1.0", language: lang, command: "bin/unit" });
        const socket = join(temp.dir, `${lang}.sock`);
        const running = startUnit("./bin/unit", tree, socket);
        let health: string;
        try {
          await waitForSocket(running, socket, minutes(1));
          health = await healthCheck(socket, 10_000);
        } finally {
          const stopped = await stopUnit(running, 30_000);
          expect({ code: stopped.code, signal: stopped.signal }, stopped.output).toEqual({ code: 0, signal: null });
        }
        expect(health).toBe("SERVING");
        if (lang === "go") {
          // The prepared project is shared with the conformance suites, which may rebuild it once it is released:
          // the next test gets its own copy of the artifact.
          const keep = join(temp.dir, "go-build");
          mkdirSync(join(keep, "dist"), { recursive: true });
          copyFileSync(file, join(keep, artifact));
          copyFileSync(`${file}.minisig`, join(keep, `${artifact}.minisig`));
          goUnit = { dir: keep, artifact: join(keep, artifact), yaml };
        }
        console.log(`${lang}: package test took ${((performance.now() - t0) / 1000).toFixed(0)}s`);
      } finally {
        unit?.release?.();
      }
    },
    minutes(40),
  );

  it("hsu up installs the Go artifact from the printed hsu.yaml, verifies its signature and runs it", async () => {
    if (!goUnit) throw new Error("the go package test did not get that far");
    const project = join(temp.dir, "master");
    mkdirSync(project);
    // The printed snippet as it is, with the artifact copied away from the project that built it.
    const published = join(project, relative(goUnit.dir, goUnit.artifact).replace(/^dist\//, ""));
    copyFileSync(goUnit.artifact, published);
    copyFileSync(`${goUnit.artifact}.minisig`, `${published}.minisig`);
    writeFileSync(join(project, "hsu.yaml"), goUnit.yaml.replace(/url: file:\S+/, `url: file:${relative(project, published)}`));
    const hsu = async (...args: string[]) => {
      const { stdout, stderr } = await execFileAsync(process.execPath, ["--conditions=@hsu/source", hsuCli, ...args], { cwd: project, timeout: minutes(2), env: { ...process.env, NO_COLOR: "1" } });
      return { stdout, stderr };
    };
    try {
      const up = await hsu("up", "-d", "--json");
      expect(up.stderr).toContain(`downloading file:`);
      const units = JSON.parse(up.stdout) as { id: string; state: string; pid?: number }[];
      expect(units).toMatchObject([{ id: "echo-go", state: "running" }]);
      const tree = join(project, ".hsu/artifacts/trees", sha256(published));
      expect(readlinkSync(`/proc/${units[0]!.pid}/cwd`)).toBe(tree);
      const history = JSON.parse(readFileSync(join(project, ".hsu/artifacts/units/echo-go/history.json"), "utf8")) as { versions: { version: string; keyId?: string }[] };
      expect(history.versions).toMatchObject([{ version: "0.1.0", keyId: expect.stringMatching(/^[0-9A-F]{1,16}$/) }]);
    } finally {
      await hsu("down").catch(() => undefined);
    }
  }, minutes(5));
});
