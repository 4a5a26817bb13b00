import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { createRegistrar, launchUnit, type Registrar } from "@hsu/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "./gen/hsu/examples/echo/v1/echo_pb.js";
import { repoRoot } from "./paths.ts";
import { prepareUnit, type ConformanceLanguage, type PreparedUnit } from "./prepare.ts";
import { killGroup } from "./process-state.ts";
import { sendRawGrpc } from "./raw-grpc.ts";
import { runOk } from "./run.ts";

// Regen is the user's path after changing the proto: it must add a stub for
// the new RPC, leave their code alone, and leave a project that still builds.
const languages: ConformanceLanguage[] = ["go", "python", "rust", "ts"];
const cli = join(repoRoot, "packages/create-hsu-unit/src/cli.ts");
const protoFile = "proto/hsu/examples/echo/v1/echo.proto";
const echoRpc = "rpc Echo(EchoRequest) returns (EchoResponse) {";
// Annotated like Echo: regen of a proto with google.api.http rules.
const reverseRpc = 'rpc Reverse(EchoRequest) returns (EchoResponse) {\n    option (google.api.http) = {get: "/v1/reverse/{message}"};\n  }';
const marker = "hsu:new-rpc-stubs";
// Python's Nuitka output is not needed to rebuild or run from source.
const pythonNotCopied = new Set(["build"]);

/** How each language's stub for `Reverse` starts (as the template's method-stub.hbs renders it). */
const reverseStub: Record<string, RegExp> = {
  go: /^func \(s \*EchoServiceImpl\) Reverse\(ctx context\.Context, req \*pb\.EchoRequest\)/m,
  python: /^\s+async def Reverse\(/m,
  rust: /^\s+async fn reverse\(/m,
  ts: /^\s+async reverse\(_request, _context\) \{/m,
};

// Generating from scratch may wait for another run's lock and rebuild; later steps reuse the build caches.
const prepareTimeoutMs = 45 * 60_000;

/**
 * Copies a prepared unit, build caches included (Rust's target/, Python's
 * .venv, node_modules), so the copy's build only recompiles the project itself.
 * `cp -a` keeps the mtimes, so the copied caches stay fresh for the copied sources.
 */
async function copyUnit(unit: PreparedUnit, to: string): Promise<void> {
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  const entries = readdirSync(unit.dir).filter((e) => !(unit.language === "python" && pythonNotCopied.has(e)));
  await runOk("copy the prepared unit", ["cp", "-a", ...entries.map((e) => join(unit.dir, e)), `${to}/`], { cwd: repoRoot });
}

describe("create-hsu-unit regen after adding an RPC", () => {
  let registrar: Registrar;
  // One short private dir for every socket (the registrar's and the units'), removed at the end.
  const sockets = mkdtempSync(join(tmpdir(), "hsu-r-"));
  const started: (number | undefined)[] = [];

  beforeAll(async () => {
    registrar = await createRegistrar({ listen: `unix:${join(sockets, "master.sock")}` });
  });
  afterAll(async () => {
    for (const pid of started) killGroup(pid);
    await registrar?.close();
    rmSync(sockets, { recursive: true, force: true });
  });

  describe.each(languages)("%s", (language) => {
    const dir = join(repoRoot, ".cache/conformance", `regen-${language}`, "unit");
    let unit: PreparedUnit;
    let implFile: string;
    let before: string;
    let after: string;
    let regenOutput: string;
    let passed = 0;

    beforeAll(async () => {
      const prepared = await prepareUnit(language, prepareTimeoutMs);
      try {
        await copyUnit(prepared, dir);
      } finally {
        prepared.release?.();
      }
      unit = { ...prepared, dir, release: undefined };
      // The example's hand-written implementation (its userFiles also list tests).
      implFile = unit.userFiles.find((f) => /services\//.test(f))!;
      expect(implFile, `${language}: no services/ file in the example's userFiles`).toBeDefined();
      before = readFileSync(join(dir, implFile), "utf8");

      const proto = readFileSync(join(dir, protoFile), "utf8");
      expect(proto).toContain(echoRpc);
      writeFileSync(join(dir, protoFile), proto.replace(echoRpc, `${reverseRpc}\n  ${echoRpc}`));

      regenOutput = await runOk(
        "create-hsu-unit regen",
        [process.execPath, "--conditions=@hsu/source", cli, "regen", "--dir", dir],
        { cwd: repoRoot },
      );
      after = readFileSync(join(dir, implFile), "utf8");
    }, prepareTimeoutMs);
    afterAll(() => {
      // Kept when something failed, to look at; otherwise it only takes disk space.
      if (passed === 4) rmSync(join(dir, ".."), { recursive: true, force: true });
    });

    it("reports a stub for the new RPC", () => {
      expect(regenOutput).toContain("Added stubs for EchoService.Reverse");
      passed++;
    });

    it("keeps the user's implementation byte for byte, only inserting the stub before the marker", () => {
      const lines = before.split("\n");
      const markerAt = lines.findIndex((l) => l.includes(marker));
      expect(markerAt, `${implFile} has no ${marker} line`).toBeGreaterThan(0);
      const head = lines.slice(0, markerAt).join("\n") + "\n";
      const tail = lines.slice(markerAt).join("\n");
      expect(after.startsWith(head), `${implFile}: the code above the marker changed`).toBe(true);
      expect(after.endsWith(tail), `${implFile}: the marker or the code below it changed`).toBe(true);
      const inserted = after.slice(head.length, after.length - tail.length);
      expect(inserted).toMatch(reverseStub[language]!);
      expect(inserted).toMatch(/unimplemented/i);
      passed++;
    });

    it("builds with the template's build command", async () => {
      await runOk(`${language} build after regen`, unit.manifest.build, { cwd: dir, env: unit.env });
      passed++;
    });

    it("serves Echo from the user's code and Reverse from the stub (UNIMPLEMENTED)", async () => {
      const [command, ...args] = unit.command;
      const launched = await launchUnit({
        id: `regen-${language}`,
        command: command!,
        args,
        cwd: dir,
        env: unit.env,
        listen: "unix",
        socketDir: sockets,
        registrar,
        stdio: "pipe",
        startTimeoutMs: 30_000,
      });
      started.push(launched.pid);
      launched.child.stdout?.resume();
      try {
        const echoed = await launched.client.client(EchoService).echo({ message: "still mine" });
        expect(echoed.message).toBe("still mine");
        // An empty message is a valid EchoRequest (every field at its default).
        const res = await sendRawGrpc(launched.info.address, "/hsu.examples.echo.v1.EchoService/Reverse", Buffer.alloc(0));
        expect(res.httpStatus).toBe(200);
        expect(res.grpcStatus).toBe(Code.Unimplemented);
        // The stub's own message: an RPC the server does not know at all is also UNIMPLEMENTED, but says otherwise.
        expect(res.grpcMessage).toMatch(/Reverse is not implemented yet/);
      } finally {
        await launched.stop(5000);
      }
      passed++;
    });
  });
});
