import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRegistrar, launchUnit, type Registrar } from "@hsu/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusErrorsDir, corpusRpcs, prepareCorpusUnit, type CorpusLanguage, type CorpusRpc, type CorpusUnit } from "./corpus.ts";
import { ensureGrpcurl } from "./grpcurl.ts";
import { repoRoot } from "./paths.ts";
import { killGroup } from "./process-state.ts";
import { run, runOk } from "./run.ts";

// The proto corpus (packages/conformance/corpus) in every language: generated
// by the real create-hsu-unit, built, started by a real `hsu` master as
// integrated units, and every RPC of every service called through the
// master's unit proxy by a reflection-based client (grpcurl). The stubs
// answer UNIMPLEMENTED, which proves the route: the service is registered
// under its full name and the request decodes.
const languages: CorpusLanguage[] = ["go", "python", "rust", "ts"];
const cli = join(repoRoot, "packages/create-hsu-unit/src/cli.ts");
const hsuBin = join(repoRoot, "packages/master/src/cli/bin.ts");
// A cold cargo build of tonic on a busy 2-core machine takes over 10 minutes; warm runs reuse target/.
const prepareTimeoutMs = 45 * 60_000;

const startedAt = Date.now();
const units = new Map<CorpusLanguage, CorpusUnit>();
// One short private dir for the master's state and every socket, removed at the end.
const work = mkdtempSync(join(tmpdir(), "hsu-k-"));
let rpcs: CorpusRpc[] = [];

beforeAll(async () => {
  rpcs = await corpusRpcs();
  await ensureGrpcurl();
  // One after the other: the machine's cores are better spent on one build at a time.
  for (const language of languages) units.set(language, await prepareCorpusUnit(language, prepareTimeoutMs));
}, prepareTimeoutMs * languages.length);

afterAll(() => {
  for (const unit of units.values()) unit.release();
  rmSync(work, { recursive: true, force: true });
  console.log(`corpus suite: ${((Date.now() - startedAt) / 1000).toFixed(1)} s (generate, build and run, ${languages.length} languages)`);
});

/** grpcurl's target argument for a Unix socket path. */
const unixTarget = (path: string) => `unix://${path}`;

/**
 * Calls `rpc` with one empty request (text format: every proto3 message,
 * well-known types included, has an empty text form) and returns grpcurl's
 * combined output. A streaming call sends that one message, then half-closes.
 */
async function call(target: string, headers: string[], rpc: CorpusRpc): Promise<string> {
  const exe = await ensureGrpcurl();
  const argv = [exe, "-plaintext", "-max-time", "20", "-format", "text", "-d", " ", ...headers.flatMap((h) => ["-H", h])];
  const result = await run([...argv, target, `${rpc.service}/${rpc.method}`], { cwd: repoRoot });
  return result.output;
}

describe("the generator refuses unsupported protos before writing anything", () => {
  for (const name of readdirSync(corpusErrorsDir)) {
    // expect.json: the language the case fails in, and the message (a regex) it must print.
    const expected = JSON.parse(readFileSync(join(corpusErrorsDir, name, "expect.json"), "utf8")) as { language: string; message: string };
    it(`${name} (${expected.language}): an error naming file:line and the fix, and no project`, async () => {
      const dir = join(work, `refused-${name}`);
      const proto = join(corpusErrorsDir, name, "main.proto");
      const result = await run(
        [process.execPath, "--conditions=@hsu/source", cli, "--lang", expected.language, "--name", "refused", "--proto", proto, "--dir", dir, "--yes", "--no-generate"],
        { cwd: repoRoot },
      );
      expect(result.code, result.output).toBe(1);
      expect(result.output).toMatch(new RegExp(expected.message));
      expect(result.output).not.toMatch(/Created/);
      expect(existsSync(dir), `${dir} must not exist`).toBe(false);
    });
  }
});

describe("flag vs environment: --listen beats HSU_LISTEN", () => {
  let registrar: Registrar;
  beforeAll(async () => {
    registrar = await createRegistrar({ listen: `unix:${join(work, "p.sock")}` });
  });
  afterAll(async () => {
    await registrar?.close();
  });

  for (const language of languages) {
    it(language, async () => {
      const unit = units.get(language)!;
      const [command, ...args] = unit.command;
      const flagSocket = join(work, `${language}-flag.sock`);
      // launchUnit sets HSU_LISTEN to a socket of its own; the flag names another one.
      const launched = await launchUnit({
        id: `prec-${language}`,
        command: command!,
        args: [...args, "--listen", `unix:${flagSocket}`],
        cwd: unit.dir,
        listen: "unix",
        socketDir: work,
        registrar,
        stdio: "pipe",
        startTimeoutMs: 30_000,
      });
      launched.child.stdout?.resume();
      try {
        expect(launched.info.address).toBe(`unix:${flagSocket}`);
        expect(existsSync(flagSocket)).toBe(true);
      } finally {
        await launched.stop(5000);
        killGroup(launched.pid);
      }
    });
  }
});

describe("every RPC of the corpus, through a real hsu master", () => {
  let control: string;
  const hsu = (...args: string[]) => runOk(`hsu ${args.join(" ")}`, [process.execPath, "--conditions=@hsu/source", hsuBin, ...args], { cwd: work });

  beforeAll(async () => {
    const yaml = ["units:"];
    for (const language of languages) {
      const unit = units.get(language)!;
      const [command, ...args] = unit.command;
      yaml.push(
        `  corpus-${language}:`,
        "    kind: integrated",
        `    command: ${JSON.stringify(command)}`,
        `    args: ${JSON.stringify(args)}`,
        `    cwd: ${JSON.stringify(unit.dir)}`,
      );
    }
    writeFileSync(join(work, "hsu.yaml"), yaml.join("\n") + "\n");
    await hsu("up", "--detach");
    control = join(work, ".hsu", "control.sock");
  }, 120_000);
  afterAll(async () => {
    await run([process.execPath, "--conditions=@hsu/source", hsuBin, "down"], { cwd: work });
  });

  for (const language of languages) {
    describe(language, () => {
      const header = `hsu-unit: corpus-${language}`;

      it("reflects every corpus service through the master", async () => {
        const exe = await ensureGrpcurl();
        const out = await runOk("grpcurl list", [exe, "-plaintext", "-max-time", "20", "-H", header, unixTarget(control), "list"], { cwd: repoRoot });
        const listed = out.split("\n").map((l) => l.trim());
        for (const service of new Set(rpcs.map((r) => r.service))) expect(listed, out).toContain(service);
      });

      it("answers every RPC (UNIMPLEMENTED stubs) through the master", async () => {
        const wrong: string[] = [];
        for (const rpc of rpcs) {
          const out = await call(unixTarget(control), [header], rpc);
          // A stub's own message, not the "unknown service" of a route that is missing.
          if (!/Code: Unimplemented\s+Message: .*is not implemented yet/.test(out)) wrong.push(`${rpc.service}/${rpc.method}: ${out.trim().slice(0, 300)}`);
        }
        expect(wrong, `${rpcs.length} RPCs called`).toEqual([]);
      }, 300_000);
    });
  }
});
