import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packAll } from "../../../scripts/pack-packages.ts";

// A new user writes a master following only README.md's "A master in
// TypeScript", in an empty `npm init -y` project outside the repository, with
// the packages packed as they would be published and the registry unable to
// serve @hsu/*. Every command and file comes from the README as it is now
// (so the test breaks when the README drifts); only registry names become
// tarballs and `path/to/...` placeholders become the repo's echo unit.
const repo = join(import.meta.dirname, "..", "..", "..");
const root = mkdtempSync(join(tmpdir(), "hsu-readme-master-"));
const sdk = join(root, "sdk");
const app = join(root, "app");
const echoProto = join(repo, "examples", "echo", "proto", "hsu", "examples", "echo", "v1", "echo.proto");
const echoUnit = join(repo, "examples", "echo", "src", "unit.ts");
const env = {
  ...process.env,
  PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`,
  NO_COLOR: "1",
  HSU_CONTROL: undefined,
  // Whatever asks the registry for @hsu/* fails, as before the packages are published.
  "npm_config_@hsu:registry": "http://127.0.0.1:9/",
  npm_config_update_notifier: "false",
  npm_config_fund: "false",
  npm_config_audit: "false",
};

interface Ran {
  code: number | string;
  out: string;
}

/** Runs one shell line in `cwd`; kills it (and says so) after `ms`. */
function sh(line: string, cwd: string, ms: number): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", line], { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (out += d));
    const timer = setTimeout(() => {
      process.kill(-child.pid!, "SIGKILL");
      resolve({ code: `still running after ${ms / 1000} s`, out });
    }, ms);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? `killed by ${signal}`, out });
    });
  });
}

async function ok(line: string, cwd: string, ms = 300_000): Promise<string> {
  const r = await sh(line, cwd, ms);
  if (r.code !== 0) throw new Error(`\`${line}\` in ${cwd} ended with ${r.code}:\n${r.out}`);
  return r.out;
}

/** The fenced blocks of README.md's "A master in TypeScript" section, in order. */
function readmeBlocks(): { lang: string; text: string }[] {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const start = readme.indexOf("\n## A master in TypeScript\n");
  if (start < 0) throw new Error('README.md has no "## A master in TypeScript" section');
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, text: m[2]! }));
}

/** A README shell line, with tarballs for registry names and the repo's echo proto for the placeholder. */
function localLine(line: string): string {
  const tarball = (name: string) => join(sdk, `${name.replace(/^@hsu\//, "hsu-")}-0.1.0.tgz`);
  let out = line.replace(/--proto path\/to\/echo\.proto/, `--proto ${echoProto}`);
  if (/^npm (install|i)\b/.test(out)) {
    out = out.replace(/(?<=\s)(@hsu\/[a-z-]+|create-hsu-unit)(?=\s|$)/g, (name) => tarball(name));
    // The registry would bring @hsu/client's own @hsu dependencies; here they are tarballs too.
    if (out.includes(tarball("@hsu/client"))) out += ` ${tarball("@hsu/proto")} ${tarball("@hsu/transport")}`;
  }
  return out;
}

/** The README's `path/to/echo-unit/dist/src/main.js` as the repo's echo unit, run from source. */
const localUnit = (text: string, quoted: boolean) =>
  text.replace(quoted ? '"path/to/echo-unit/dist/src/main.js"' : "path/to/echo-unit/dist/src/main.js", `"--conditions=@hsu/source", ${JSON.stringify(echoUnit)}`);

let up = false;
const timings: Record<string, number> = {};
const timed = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
  const t0 = performance.now();
  try {
    return await step();
  } finally {
    timings[what] = Math.round(performance.now() - t0);
  }
};

beforeAll(async () => {
  mkdirSync(sdk);
  mkdirSync(app);
  await timed("build and pack", () => packAll(sdk));
}, 600_000);

afterAll(async () => {
  if (up) await sh("npx hsu down", app, 60_000);
  console.log(`master-from-readme timings (ms): ${JSON.stringify(timings)}`);
  rmSync(root, { recursive: true, force: true });
}, 90_000);

describe("a master written from README.md alone", () => {
  it("installs, generates its typed client, calls a unit started by `hsu up`, and exits 0 on its own", async () => {
    const blocks = readmeBlocks();
    const shells = blocks.filter((b) => b.lang === "sh");
    const yaml = blocks.find((b) => b.lang === "yaml" && b.text.startsWith("# hsu.yaml\n"));
    const files = new Map(blocks.filter((b) => b.lang === "js").map((b) => [/^\/\/ (\S+\.js)\n/.exec(b.text)?.[1], b.text]));
    expect(shells.length, "the section's shell blocks: setup, then run").toBe(2);
    expect(yaml, "an hsu.yaml block").toBeDefined();
    expect([...files.keys()]).toEqual(["master.js", "launch.js"]);

    // Setup, as written: npm init, type module, installs, the client generator.
    await timed("setup", async () => {
      for (const line of shells[0]!.text.trim().split("\n")) await ok(localLine(line), app);
    });
    expect(JSON.parse(readFileSync(join(app, "package.json"), "utf8")).type).toBe("module");
    writeFileSync(join(app, "hsu.yaml"), localUnit(yaml!.text, false));
    for (const [name, text] of files) writeFileSync(join(app, name!), localUnit(text, true));

    // Run, as written: hsu up, the master (it must print the reply and exit 0 by itself), hsu down.
    const run = shells[1]!.text.trim().split("\n").map((l) => l.replace(/\s+#.*$/, ""));
    expect(run).toEqual(["npx hsu up --detach", "node master.js", "npx hsu down"]);
    await timed("hsu up", () => ok(run[0]!, app, 60_000));
    up = true;
    const master = await timed("node master.js", () => sh(run[1]!, app, 30_000));
    expect(master).toEqual({ code: 0, out: "hi\n" });
    await timed("hsu down", () => ok(run[2]!, app, 60_000));
    up = false;
  }, 900_000);

  it("the README's launch.js launches the unit itself, prints the reply and exits 0 on its own", async () => {
    const launch = await timed("node launch.js", () => sh("node launch.js", app, 30_000));
    // The unit's own output (inherited) is mixed in: the reply is one line of it.
    expect(launch.code, launch.out).toBe(0);
    expect(launch.out.split("\n"), launch.out).toContain("hi");
  }, 60_000);
});
