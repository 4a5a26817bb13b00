import { spawn } from "node:child_process";
import { closeSync, existsSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import { Code } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { connectUnit, createRegistrar, launchUnit, type LaunchedUnit, type Registrar } from "@hsu/client";
import { HealthCheckResponse_ServingStatus as Status } from "@hsu/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "./gen/hsu/examples/echo/v1/echo_pb.js";
import { describeReconfigure } from "./describe-reconfigure.ts";
import { listServices } from "./grpcurl.ts";
import { gapReason } from "./known-gaps.ts";
import { repoRoot } from "./paths.ts";
import { prepareUnit, type ConformanceLanguage, type PreparedUnit } from "./prepare.ts";
import { isAlive, killGroup, waitForListening, waitGone } from "./process-state.ts";
import { codeOf, isCode } from "./rpc-outcome.ts";
import { sendRawGrpc } from "./raw-grpc.ts";
import { run } from "./run.ts";

const runtimeLanguage: Record<ConformanceLanguage, string> = {
  go: "go",
  python: "python",
  "python-binary": "python",
  rust: "rust",
  ts: "typescript",
};
const echoServiceName = "hsu.examples.echo.v1.EchoService";
const requiredServices = ["hsu.core.v1.CoreService", "grpc.health.v1.Health", echoServiceName];
const masterFixture = join(repoRoot, "packages/conformance/src/fixtures/master.ts");

function socketPath(address: string): string | undefined {
  return address.startsWith("unix:") ? address.replace(/^unix:(\/\/)?/, "") : undefined;
}

/**
 * Binds a listening Unix socket at `path` the way a master does for socket
 * activation: at a private name renamed over `path` (libuv unlinks its own
 * name on close), so `release()` after spawn closes our copy and leaves the
 * file. Connections wait in the backlog: nothing here accepts them.
 */
async function bindPassedSocket(path: string): Promise<{ path: string; fd: number; release(): void }> {
  const server = createServer((socket) => socket.destroy());
  const temp = `${path}.t`;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(temp, () => resolve());
  });
  renameSync(temp, path);
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  return { path, fd, release: () => server.close() };
}

/** Files of a project (skipping build outputs and installs), relative and sorted. */
function projectFiles(dir: string, root = dir): string[] {
  const skip = new Set(["node_modules", "target", ".venv", "dist", "build", "bin", "__pycache__", ".pytest_cache"]);
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (skip.has(entry)) continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...projectFiles(full, root));
    else out.push(relative(root, full));
  }
  return out.sort();
}

// Lock files record what a resolver picked today; they are not the tool's output.
const lockFiles = /(^|\/)(package-lock\.json|Cargo\.lock|go\.sum|uv\.lock|poetry\.lock)$/;
// A TypeScript unit is generated with --sdk (local tarballs, copied to vendor/hsu/) here, which only these files record.
const sdkDependent: Partial<Record<ConformanceLanguage, string[]>> = { ts: ["package.json", "hsu-unit.json", "README.md"] };
const vendoredSdk = /^vendor\/hsu\//;

// A cold build (cargo release with tonic, Nuitka) on a busy 2-core machine
// takes well over vitest's 10 min default; later runs reuse the build caches.
const toolchainTimeoutMs = 45 * 60_000;

/**
 * The one black-box suite every language's unit must pass, through the real
 * master library (@hsu/client): `prepare` generates, completes and builds the
 * unit; every check then starts it as a master would.
 */
export function describeConformance(
  language: ConformanceLanguage,
  prepare: () => Promise<PreparedUnit> = () => prepareUnit(language),
): void {
  describe(`unit conformance: ${language}`, () => {
    let unit: PreparedUnit;
    let registrar: Registrar;
    let launches = 0;
    const started: { pid: number | undefined }[] = [];
    // One short private dir for every socket of this suite (the registrar's and the units'), removed at the end.
    const sockets = mkdtempSync(join(tmpdir(), "hsu-c-"));

    beforeAll(async () => {
      unit = await prepare();
      registrar = await createRegistrar({ listen: `unix:${join(sockets, "master.sock")}` });
    }, toolchainTimeoutMs);
    afterAll(async () => {
      for (const s of started) killGroup(s.pid);
      await registrar?.close();
      rmSync(sockets, { recursive: true, force: true });
      unit?.release?.();
    });

    async function launch(listen: "unix" | "tcp" = "unix", extraEnv: Record<string, string> = {}): Promise<LaunchedUnit> {
      const [command, ...args] = unit.command;
      const id = `${language}-${++launches}`;
      const entry: { pid: number | undefined } = { pid: undefined };
      started.push(entry);
      const launched = await launchUnit({
        id,
        command: command!,
        args,
        cwd: unit.dir,
        env: { ...unit.env, ...extraEnv },
        listen,
        socketDir: sockets,
        registrar,
        stdio: "pipe",
        startTimeoutMs: 30_000,
      });
      entry.pid = launched.pid;
      // launchUnit reads stderr; drain stdout so a chatty unit never blocks on a full pipe.
      launched.child.stdout?.resume();
      return launched;
    }

    describeReconfigure({ launch: (env) => launch("unix", env) });

    describe("a running unit (Unix socket)", () => {
      let u: LaunchedUnit;
      let launchedAt: number;
      let registeredAt: number;
      beforeAll(async () => {
        launchedAt = Date.now();
        u = await launch("unix");
        registeredAt = Date.now();
      });
      afterAll(async () => {
        await u?.stop(5000);
      });

      it("registers the Unix socket it bound in the handshake", () => {
        expect(u.info.address).toMatch(/^unix:/);
        expect(existsSync(socketPath(u.info.address)!)).toBe(true);
      });

      it("answers GetInfo with every field", async () => {
        const info = await u.client.info();
        expect(info.unitId).toBe(u.id);
        expect(info.name).toBe(unit.name);
        expect(info.version).not.toBe("");
        expect(info.runtime?.language).toBe(runtimeLanguage[language]);
        expect(info.runtime?.version).not.toBe("");
        expect(info.runtime?.grpcLibrary).not.toBe("");
        expect(info.pid).toBe(u.pid);
        expect(info.startTime).toBeDefined();
        // The process start time, from the OS clock: within a couple of seconds of the spawn.
        const start = timestampMs(info.startTime!);
        expect(start).toBeGreaterThanOrEqual(launchedAt - 2000);
        expect(start).toBeLessThanOrEqual(registeredAt + 2000);
        expect(info.services).toEqual(expect.arrayContaining(requiredServices));
        expect(info.address).toBe(u.info.address);
      });

      it("answers Ping with its unit id", async () => {
        expect(await u.client.ping()).toBe(u.id);
      });

      it("reports SERVING in health Check for the unit and every service", async () => {
        const info = await u.client.info();
        for (const service of ["", ...info.services]) {
          const res = await u.client.health.check({ service });
          expect(res.status, `health of "${service}"`).toBe(Status.SERVING);
        }
      });

      it("answers the domain Echo with the message and its unit id", async () => {
        const res = await u.client.client(EchoService).echo({ message: "hello, unit" });
        expect(res.message).toBe("hello, unit");
        expect(res.unitId).toBe(u.id);
      });

      const reflectionGap = gapReason(language, "reflection");
      it.skipIf(reflectionGap !== undefined)(
        `lists every service over reflection to a stock client (grpcurl)${reflectionGap ? ` - skipped: ${reflectionGap}` : ""}`,
        async () => {
          const listed = await listServices(u.info.address);
          const info = await u.client.info();
          expect(listed).toEqual(expect.arrayContaining([...requiredServices, "grpc.reflection.v1.ServerReflection"]));
          expect(listed).toEqual(expect.arrayContaining(info.services));
        },
      );

      it("refuses Shutdown without a token (UNAUTHENTICATED) and with a wrong one (PERMISSION_DENIED), and keeps serving", async () => {
        const anonymous = connectUnit(u.info.address);
        expect(await codeOf(anonymous.core.shutdown({ reason: "no token" }))).toMatch(isCode(Code.Unauthenticated));
        const impostor = connectUnit(u.info.address, { token: `${u.token}x` });
        expect(await codeOf(impostor.core.shutdown({ reason: "wrong token" }))).toMatch(isCode(Code.PermissionDenied));
        expect(await u.client.ping()).toBe(u.id);
        expect(isAlive(u.pid)).toBe(true);
      });

      it("answers malformed request bytes with a gRPC error and keeps serving", async () => {
        const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12]);
        const res = await sendRawGrpc(u.info.address, `/${echoServiceName}/Echo`, garbage);
        expect(res.httpStatus).toBe(200);
        expect([Code.InvalidArgument, Code.Internal]).toContain(res.grpcStatus);
        expect(await u.client.ping()).toBe(u.id);
      });

      it("answers a request over 4 MiB with RESOURCE_EXHAUSTED and keeps serving", async () => {
        const big = "x".repeat(4 * 1024 * 1024 + 1024);
        expect(await codeOf(u.client.client(EchoService).echo({ message: big }))).toMatch(isCode(Code.ResourceExhausted));
        expect(await u.client.ping()).toBe(u.id);
      });
    });

    it("does the handshake over TCP with port 0 and reports the real port", async () => {
      const u = await launch("tcp");
      const match = /^(?:tcp:\/\/)?127\.0\.0\.1:(\d+)$/.exec(u.info.address);
      expect(match, u.info.address).not.toBeNull();
      expect(Number(match![1])).toBeGreaterThan(0);
      expect(await u.client.ping()).toBe(u.id);
      expect((await u.client.info()).address).toBe(u.info.address);
      const exit = await u.stop(5000);
      expect(exit).toEqual({ code: 0, signal: null });
    });

    it("stops on Shutdown with the token: Watch sees NOT_SERVING, new calls are refused, the in-flight Echo completes, exit 0", async () => {
      const u = await launch("unix");
      const echo = u.client.client(EchoService);
      const watchAbort = new AbortController();
      const statuses: Status[] = [];
      let firstStatus!: () => void;
      const watching = new Promise<void>((resolve) => (firstStatus = resolve));
      const watch = (async () => {
        for await (const res of u.client.health.watch({ service: "" }, { signal: watchAbort.signal })) {
          statuses.push(res.status);
          firstStatus();
          if (res.status === Status.NOT_SERVING) return;
        }
      })();
      // The Watch is a stream, on another connection than unary calls: the
      // unit has it once it has sent the first status.
      let giveUp: NodeJS.Timeout | undefined;
      await Promise.race([watching, watch, u.exited, new Promise((resolve) => (giveUp = setTimeout(resolve, 10_000)))]);
      clearTimeout(giveUp);
      expect(statuses.length, "the Watch answered before the Shutdown").toBeGreaterThan(0);
      const inFlight = echo.echo({ message: "still here", delayMs: 1500 });
      // Ping answered after the Echo was sent on the same connection: the unit has the Echo.
      await u.client.ping();
      await u.client.shutdown(5000, "conformance");
      await watch.catch((e: unknown) => {
        // The stream may end with an error once the unit closes; what it saw is what counts.
        if (!statuses.includes(Status.NOT_SERVING)) throw e;
      });
      watchAbort.abort();
      expect(statuses[0]).toBe(Status.SERVING);
      expect(statuses).toContain(Status.NOT_SERVING);
      expect(await codeOf(echo.echo({ message: "too late" }))).toMatch(isCode(Code.Unavailable));
      const answer = await inFlight;
      expect(answer.message).toBe("still here");
      const exit = await Promise.race([
        u.exited,
        new Promise<"deadline">((r) => setTimeout(() => r("deadline"), 5000 + 2000).unref()),
      ]);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(existsSync(socketPath(u.info.address)!)).toBe(false);
    });

    it("stops gracefully on SIGTERM with exit code 0", async () => {
      const u = await launch("unix");
      expect(await u.client.ping()).toBe(u.id);
      process.kill(-u.pid, "SIGTERM");
      expect(await u.exited).toEqual({ code: 0, signal: null });
      expect(existsSync(socketPath(u.info.address)!)).toBe(false);
    });

    it("exits within 2 s when its master is SIGKILLed", async () => {
      const [command, ...args] = unit.command;
      const spec = { id: `${language}-orphan`, command, args, cwd: unit.dir, env: unit.env, socketDir: sockets };
      const master = spawn(process.execPath, ["--conditions=@hsu/source", masterFixture, JSON.stringify(spec)], {
        cwd: join(repoRoot, "packages/conformance"),
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      const entry = { pid: master.pid };
      started.push(entry);
      let stderr = "";
      master.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: master.stdout }).once("line", resolve);
        master.once("exit", (code) => reject(new Error(`the master fixture exited (${code}) before the unit registered:\n${stderr}`)));
      });
      const { unitPid } = JSON.parse(line) as { unitPid: number };
      started.push({ pid: unitPid });
      expect(isAlive(unitPid)).toBe(true);
      process.kill(master.pid!, "SIGKILL");
      expect(await waitGone(unitPid, 2000), `unit pid ${unitPid} still running 2 s after its master died`).toBe(true);
    });

    /** Starts the unit by hand (no launchUnit) with exactly `env` over the base environment; `fd3` becomes its fd 3. */
    function spawnRaw(env: Record<string, string>, fd3?: number) {
      const [command, ...args] = unit.command;
      const base = { ...process.env } as Record<string, string>;
      for (const key of Object.keys(base)) if (key.startsWith("HSU_") || key.startsWith("LISTEN_")) delete base[key];
      const stdio = ["ignore", "ignore", "pipe", ...(fd3 === undefined ? [] : [fd3])] as const;
      const child = spawn(command!, args, { cwd: unit.dir, env: { ...base, ...unit.env, ...env }, stdio: [...stdio], detached: true });
      started.push({ pid: child.pid });
      let stderr = "";
      child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      return { child, exited, stderr: () => stderr };
    }

    it("exits with code 2 on an unparsable HSU_LISTEN", async () => {
      const raw = spawnRaw({ HSU_LISTEN: "no-such-address" });
      expect(await raw.exited, raw.stderr()).toBe(2);
    });

    it("exits with code 2 when the Unix socket path is too long, naming the path", async () => {
      const long = `/tmp/${"x".repeat(120)}.sock`;
      const raw = spawnRaw({ HSU_LISTEN: `unix:${long}` });
      expect(await raw.exited, raw.stderr()).toBe(2);
      expect(raw.stderr()).toContain("xxxxxxxxxx");
    });

    describe("socket activation (LISTEN_FDS, fd 3)", () => {
      const activationGap = gapReason(language, "socket-activation");
      const activated = { LISTEN_FDS: "1", HSU_LISTEN_FD: "3" };

      it.skipIf(activationGap !== undefined)("serves on the listening socket passed as fd 3 and leaves the socket file in place", async () => {
        const { path, fd, release } = await bindPassedSocket(join(sockets, "passed.sock"));
        const raw = spawnRaw({ ...activated, HSU_LISTEN: `unix:${path}` }, fd);
        release();
        const ino = lstatSync(path).ino;
        // The socket is listening already: this call waits in the backlog until the unit serves.
        const client = connectUnit(`unix:${path}`);
        expect((await client.client(EchoService).echo({ message: "queued" }, { timeoutMs: 30_000 })).message, raw.stderr()).toBe("queued");
        expect(lstatSync(path).ino, "the unit replaced the master's socket file").toBe(ino);
        expect((await client.info()).address).toBe(`unix:${path}`);
        process.kill(-raw.child.pid!, "SIGTERM");
        expect(await raw.exited, raw.stderr()).toBe(0);
        expect(lstatSync(path, { throwIfNoEntry: false })?.ino, "the unit removed the master's socket file").toBe(ino);
        rmSync(path);
      });

      for (const bad of ["0", "garbage", "-1", ""]) {
        it.skipIf(activationGap !== undefined)(`exits with code 2 naming LISTEN_FDS when it is ${JSON.stringify(bad)} with HSU_LISTEN_FD=3`, async () => {
          const raw = spawnRaw({ LISTEN_FDS: bad, HSU_LISTEN_FD: "3", HSU_LISTEN: "127.0.0.1:0" });
          expect(await raw.exited, raw.stderr()).toBe(2);
          expect(raw.stderr()).toContain("LISTEN_FDS");
        });
      }

      it.skipIf(activationGap !== undefined)("exits with code 2 naming fd 3 when fd 3 is not a socket", async () => {
        const file = join(sockets, "not-a-socket");
        writeFileSync(file, "");
        const fd = openSync(file, "r");
        try {
          const raw = spawnRaw({ ...activated, HSU_LISTEN: "127.0.0.1:0" }, fd);
          expect(await raw.exited, raw.stderr()).toBe(2);
          expect(raw.stderr()).toContain("fd 3");
        } finally {
          closeSync(fd);
        }
      });

      it("ignores LISTEN_FDS meant for another process (LISTEN_PID) and binds HSU_LISTEN itself", async () => {
        const sock = join(sockets, "other-pid.sock");
        const raw = spawnRaw({ LISTEN_FDS: "1", LISTEN_PID: "1", HSU_LISTEN: `unix:${sock}` });
        expect(await waitForListening(sock, raw.exited), raw.stderr()).toBe(true);
        expect(await connectUnit(`unix:${sock}`).ping()).not.toBe("");
        process.kill(-raw.child.pid!, "SIGTERM");
        expect(await raw.exited, raw.stderr()).toBe(0);
      });

      it("answers a waking call sent before its handshake, through a master that passed it the socket (or, for a unit that binds its own, after it)", async () => {
        const u = await launch("unix");
        expect(await u.client.ping()).toBe(u.id);
        await u.stop(5000);
      });
    });

    it("exits with code 3 when the master refuses the handshake", async () => {
      // The registrar expects no unit with this id: Register answers NOT_FOUND.
      const raw = spawnRaw({
        HSU_UNIT_ID: `${language}-stranger`,
        HSU_LISTEN: "127.0.0.1:0",
        HSU_MASTER_ADDR: registrar.address,
        HSU_TOKEN: "not-expected",
      });
      expect(await raw.exited, raw.stderr()).toBe(3);
    });

    it("standalone without HSU_TOKEN refuses every Shutdown with UNAUTHENTICATED", async () => {
      const sock = join(sockets, "alone.sock");
      const raw = spawnRaw({ HSU_LISTEN: `unix:${sock}` });
      // The socket file appears at bind(), before listen(): only an accepted connection says it serves.
      expect(await waitForListening(sock, raw.exited), raw.stderr()).toBe(true);
      const client = connectUnit(`unix:${sock}`);
      await client.ping();
      expect(await codeOf(client.core.shutdown({ reason: "no token" }))).toMatch(isCode(Code.Unauthenticated));
      expect(await codeOf(connectUnit(`unix:${sock}`, { token: "guess" }).core.shutdown({}))).toMatch(isCode(Code.Unauthenticated));
      expect(await codeOf(connectUnit(`unix:${sock}`, { token: "guess" }).core.reconfigure({}))).toMatch(isCode(Code.Unauthenticated));
      expect(await client.ping()).not.toBe("");
      process.kill(-raw.child.pid!, "SIGTERM");
      expect(await raw.exited).toBe(0);
    });

    it("passes the generated project's own tests", async () => {
      const result = await run(unit.manifest.test, { cwd: unit.dir, env: unit.env });
      expect(result.code, `\`${unit.manifest.test.join(" ")}\` output:\n${result.output.slice(-6000)}`).toBe(0);
    }, toolchainTimeoutMs);

    it.skipIf(language === "python-binary")(
      "generates exactly the tool-owned files committed in its example (generated code included)",
      () => {
        const ignored = new Set([...unit.userFiles, ...(sdkDependent[unit.language] ?? [])]);
        const fresh = projectFiles(unit.dir).filter((f) => !lockFiles.test(f) && !ignored.has(f) && !vendoredSdk.test(f));
        const committed = projectFiles(unit.exampleDir).filter(
          (f) => !lockFiles.test(f) && !ignored.has(f) && f !== "hsu-example.json",
        );
        const missing = fresh.filter((f) => !committed.includes(f));
        const extra = committed.filter((f) => !fresh.includes(f));
        expect({ missing, extra }, `examples/echo-${unit.language}: files a fresh generation has (missing) or does not have (extra)`).toEqual({
          missing: [],
          extra: [],
        });
        const differing = fresh.filter((f) => committed.includes(f)).filter(
          (f) => !readFileSync(join(unit.dir, f)).equals(readFileSync(join(unit.exampleDir, f))),
        );
        expect(differing, `regenerate examples/echo-${unit.language} - these files differ from a fresh generation`).toEqual([]);
      },
    );
  });
}
