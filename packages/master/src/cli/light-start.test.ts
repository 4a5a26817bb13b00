// A structural guard, not a timing: the commands that need little load little. `hsu --version`,
// help and usage errors must not pull in the RPC stack, the YAML parser, the config loader or the
// daemon; `hsu ps` loads the control client but neither the daemon nor the config loader and its
// validators. Each run records every module it resolves through a preloaded hook.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ControlService } from "@hsu/proto";
import { listenH2c } from "@hsu/transport";
import { spawn } from "node:child_process";
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

/** As {@link loaded}, without blocking this process: for a run that talks to a server in it. */
async function loadedAsync(name: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; modules: string[] }> {
  const out = join(tmp, `${name}.txt`);
  const child = spawn(process.execPath, [`--import=${hook}`, ...hsuArgv(...args)], {
    cwd: tmp,
    env: { ...process.env, HSU_TEST_MODULES: out, HSU_CONTROL: undefined, NO_COLOR: "1" },
    timeout: 60_000,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  return { code, stdout, stderr, modules: readFileSync(out, "utf8").split("\n") };
}

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

  it("ps against a master that answers loads neither connect, the generated descriptors nor the transport", async () => {
    const socket = join(tmp, "control.sock");
    const units = [{ id: "web", state: "running", unitState: 3, kind: 1, pid: 4242 }];
    const server = await listenH2c(`unix:${socket}`, connectNodeAdapter({ routes: (r) => r.service(ControlService, { listUnits: () => ({ units }) } as never) }));
    try {
      const r = await loadedAsync("ps-served", "ps", "--socket", socket);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^UNIT +KIND +STATE +PID/);
      expect(r.stdout).toMatch(/^web +managed +running +4242 /m);
      // protobuf's wire reader only: no descriptors booted, none of the generated files.
      const heavy = [/@connectrpc\//, /\/protobuf\/dist\/esm\/(codegenv2|registry|wkt\/(index|google))/, /_pb\./, /packages\/(proto|transport)\//, /^node:https?$/, /^node:zlib$/];
      expect(matching(r.modules, [...heavy, /packages\/master\/(src|dist)\/config\//, ...daemon, ...wholeClient])).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it("ps loads the control client, but not the config loader, its validators, the daemon or all of @hsu/client", () => {
    // No master runs here: the quick call fails, and the full control client (connect, control_pb) says why.
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
