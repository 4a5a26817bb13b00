// A structural guard, not a timing: the commands that need little load little. `hsu --version`,
// help and usage errors must not pull in the RPC stack, the YAML parser, the config loader or the
// daemon; `hsu ps` loads the control client but neither the daemon nor the config loader and its
// validators. Each run records every module it resolves through a preloaded hook.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hsuArgv } from "../test-support/hsu-cli.ts";

const tmp = mkdtempSync(join(tmpdir(), "hsu-light-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const hook = join(tmp, "record.mjs");
writeFileSync(
  hook,
  `import { registerHooks } from "node:module";
import { writeFileSync } from "node:fs";
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.add(r.url); return r; } });
process.on("exit", () => writeFileSync(process.env.HSU_TEST_MODULES, [...seen].join("\\n")));
`,
);
writeFileSync(join(tmp, "hsu.yaml"), "version: 1\nunits:\n  a:\n    command: sleep\n    args: ['1000']\n");

/** Runs `hsu ...args` in the temp dir and returns its exit code and every module URL it resolved. */
function loaded(name: string, ...args: string[]): { code: number | null; stderr: string; modules: string[] } {
  const out = join(tmp, `${name}.txt`);
  const r = spawnSync(process.execPath, [`--import=${hook}`, ...hsuArgv(...args)], {
    cwd: tmp,
    env: { ...process.env, HSU_TEST_MODULES: out, HSU_CONTROL: undefined, NO_COLOR: "1" },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, stderr: r.stderr, modules: readFileSync(out, "utf8").split("\n") };
}

const rpc = [/@connectrpc\/connect/, /@bufbuild\/protobuf/, /^node:http2$/, /packages\/(proto|transport)\//];
const spec = [/\/yaml\//, /packages\/master\/(src|dist)\/config\//];
const daemon = [/packages\/master\/(src|dist)\/daemon\/(?!state\.)/, /packages\/master\/(src|dist)\/control\//];
// The whole @hsu/client (supervisor, durable layer, health, ...), as opposed to its narrow subpaths.
const wholeClient = [/packages\/client\/(src|dist)\/index\./, /croner/];
const matching = (modules: string[], patterns: RegExp[]) => modules.filter((m) => patterns.some((p) => p.test(m)));

describe("what each hsu command loads", () => {
  it.each([
    ["version", ["--version"], 0],
    ["help", ["help"], 0],
    ["help-ps", ["ps", "--help"], 0],
    ["no-args", [], 2],
    ["unknown", ["pss"], 2],
    ["bad-flag", ["ps", "--bogus"], 2],
  ] as const)("%s loads neither the RPC stack, the spec loader, the daemon nor all of @hsu/client", (name, args, code) => {
    const r = loaded(name, ...args);
    expect(r.code, r.stderr).toBe(code);
    expect(r.modules.some((m) => m.endsWith("/cli/main.ts") || m.endsWith("/cli/main.js"))).toBe(true);
    expect(matching(r.modules, [...rpc, ...spec, ...daemon, ...wholeClient])).toEqual([]);
  });

  it("ps loads the control client, but not the config loader, its validators, the daemon or all of @hsu/client", () => {
    // No master runs here: ps gets as far as the control socket hsu.yaml names, with every module it needs loaded.
    const r = loaded("ps", "ps");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^hsu ps: no master is running \(no control socket at .*\.hsu\/control\.sock\)/);
    for (const needed of [/@connectrpc\/connect\//, /\/control_pb\./]) expect(r.modules.some((m) => needed.test(m)), String(needed)).toBe(true);
    expect(matching(r.modules, [/packages\/master\/(src|dist)\/config\//, ...daemon, ...wholeClient])).toEqual([]);
  });
});

describe("hsu ps finds the master without the config loader", () => {
  it("refuses a FIFO named hsu.yaml at once instead of waiting for a writer", () => {
    const dir = mkdtempSync(join(tmp, "fifo-"));
    spawnSync("mkfifo", [join(dir, "hsu.yaml")]);
    const r = spawnSync(process.execPath, hsuArgv("ps"), { cwd: dir, env: { ...process.env, HSU_CONTROL: undefined }, encoding: "utf8", timeout: 60_000 });
    expect(r.stderr).toBe("hsu ps: hsu.yaml: not a regular file; `hsu validate` says more\n");
    expect(r.status).toBe(1);
  });
});
