// Socket activation on the wake path: the master binds the unit's socket, passes it as fd 3, and sends
// the waking call before the handshake. Real units and sockets; what must not happen is a lost or hung call.
import { Code, ConnectError } from "@connectrpc/connect";
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { launchUnit } from "../core/launch.ts";
import { createRegistrar, type Registrar } from "../core/registrar.ts";
import type { EarlyUnit, StartUnit } from "./handle.ts";
import { createIntegratedUnit, type IntegratedUnit } from "./integrated-unit.ts";
import { createLaunchStart } from "./launch-start.ts";
import { alive, echoCommand, echoUnitScript, nextEvent, pidsOfUnit, whenReady } from "./test-support/echo.ts";

let registrar: Registrar;
let dir: string;
const units: IntegratedUnit[] = [];
let seq = 0;
beforeAll(async () => {
  registrar = await createRegistrar();
  dir = mkdtempSync(join(tmpdir(), "hsu-act-"));
});
afterEach(async () => {
  await Promise.all(units.splice(0).map((u) => u.close()));
});
afterAll(async () => {
  await registrar.close();
  rmSync(dir, { recursive: true, force: true });
});

/** An integrated unit whose start records each socket it passed (the EarlyUnit, whose `adopted` says whether the unit took it). */
function unitWith(launch: { command: string; args: string[] }, startTimeoutMs = 20_000) {
  const id = `act-${process.pid}-${seq++}`;
  const inner = createLaunchStart({ id, registrar, socketDir: dir, ...launch });
  const passed: { early: EarlyUnit }[] = [];
  const start: StartUnit = (signal, onSpawned) =>
    inner(signal, (early) => {
      passed.push({ early });
      onSpawned?.(early);
    });
  const unit = createIntegratedUnit({ id, start, idleTimeoutMs: Infinity, startTimeoutMs });
  units.push(unit);
  return { id, unit, passed, path: join(dir, `${id}.sock`) };
}

describe("socket activation: the waking call", () => {
  it("is answered by a unit that serves on the master's socket, and the socket file stays the master's", async () => {
    const { unit, passed, path } = unitWith(echoCommand);
    expect((await unit.client(EchoService).echo({ message: "early" })).message).toBe("early");
    expect(passed).toHaveLength(1);
    expect(await passed[0]!.early.adopted).toBe(true);
    expect(lstatSync(path).isSocket()).toBe(true);
    await unit.stop();
    // The unit leaves the master's file; the master removes it once the unit is gone.
    expect(existsSync(path)).toBe(false);
  });

  it("is sent again, and answered, when the unit binds a socket of its own instead (a unit that cannot adopt fd 3)", async () => {
    const { unit, passed } = unitWith({
      command: "/bin/sh",
      // HSU_LISTEN_FD cleared: the unit ignores fd 3, replaces the socket file and binds it itself.
      args: ["-c", `HSU_LISTEN_FD= exec "${process.execPath}" --conditions=@hsu/source "${echoUnitScript}"`],
    });
    const reply = await unit.client(EchoService).echo({ message: "resent" }, { timeoutMs: 20_000 });
    expect(reply.message).toBe("resent");
    expect(await passed[0]!.early.adopted).toBe(false);
  });

  it("fails with the start's error, not a hang, when the unit dies holding the socket before it accepts", async () => {
    const { unit } = unitWith({
      command: process.execPath,
      args: ["-e", "setTimeout(() => { console.error('cannot open the database'); process.exit(1); }, 300)"],
    });
    const err = await unit
      .client(EchoService)
      .echo({ message: "queued" })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.message).toContain("code 1");
    expect(err?.message).toContain("cannot open the database");
    expect(unit.state).toBe("stopped");
  });

  it("fails at the start timeout, not later, when the unit holds the socket and never serves", async () => {
    const { unit, id } = unitWith({ command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"] }, 800);
    const err = await unit
      .client(EchoService)
      .echo({ message: "never" })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.message).toContain("did not complete the handshake within 800 ms");
    expect(pidsOfUnit(id)).toEqual([]);
  });

  it("gets a fresh socket for every process: after a stop and after a kill -9, the next call is answered by the new one", async () => {
    const { unit, passed } = unitWith(echoCommand);
    const echo = unit.client(EchoService);
    expect((await echo.echo({ message: "one" })).message).toBe("one");
    await whenReady(unit);
    const first = unit.pid!;
    await unit.stop();
    expect((await echo.echo({ message: "two" })).message).toBe("two");
    await whenReady(unit);
    const second = unit.pid!;
    expect(second).not.toBe(first);
    const exited = nextEvent(unit, "exited");
    process.kill(second, "SIGKILL");
    await exited;
    expect(alive(second)).toBe(false);
    const replies = await Promise.all([1, 2, 3].map((i) => echo.echo({ message: `three-${i}` })));
    expect(replies.map((r) => r.message)).toEqual(["three-1", "three-2", "three-3"]);
    expect(unit.pid).not.toBe(second);
    // Each adoption settles on its own: await them, not what had settled when the replies came.
    expect(await Promise.all(passed.map((p) => p.early.adopted))).toEqual([true, true, true]);
  });
});

describe("socket activation: launchUnit", () => {
  it("refuses a file that is not a socket at the unit's path and starts nothing", async () => {
    const id = `act-file-${process.pid}`;
    const path = join(dir, `${id}.sock`);
    writeFileSync(path, "keep me");
    await expect(launchUnit({ id, ...echoCommand, socketDir: dir, registrar, stdio: "ignore" })).rejects.toMatchObject({
      code: "failed_precondition",
      message: expect.stringContaining(`${path} exists and is not a socket`),
    });
    expect(lstatSync(path).isFile()).toBe(true);
    expect(pidsOfUnit(id)).toEqual([]);
  });

  it("passes no socket to a unit given an explicit address, and none of the master's own LISTEN_* variables", async () => {
    const path = join(dir, "explicit.sock");
    process.env.LISTEN_FDS = "1";
    process.env.LISTEN_PID = "1";
    try {
      const unit = await launchUnit({ id: "act-explicit", ...echoCommand, listen: `unix:${path}`, registrar, stdio: "ignore" });
      try {
        expect(unit.info.address).toBe(`unix:${path}`);
        expect(await unit.client.ping()).toBe("act-explicit");
      } finally {
        await unit.stop(2000);
      }
    } finally {
      delete process.env.LISTEN_FDS;
      delete process.env.LISTEN_PID;
    }
  });

  it("starts a TCP unit that binds by itself on a port of its own, not the passed socket's (no EADDRINUSE)", async () => {
    const unit = await launchUnit({
      id: "act-tcp-own",
      command: "/bin/sh",
      args: ["-c", `HSU_LISTEN_FD= exec "${process.execPath}" --conditions=@hsu/source "${echoUnitScript}"`],
      listen: "tcp",
      registrar,
      stdio: "pipe",
    });
    try {
      expect(unit.info.address).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
      expect(await unit.client.ping()).toBe("act-tcp-own");
    } finally {
      await unit.stop(2000);
    }
  });

  it("activates a TCP unit on a port the master chose", async () => {
    const unit = await launchUnit({ id: "act-tcp", ...echoCommand, listen: "tcp", registrar, stdio: "ignore" });
    try {
      expect(unit.info.address).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
      expect((await unit.client.client(EchoService).echo({ message: "tcp" })).message).toBe("tcp");
    } finally {
      await unit.stop(2000);
    }
  });
});
