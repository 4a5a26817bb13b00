import { Code } from "@connectrpc/connect";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { createRegistrar, type Registrar } from "../core/registrar.ts";
import type { ManagedUnit } from "../supervisor/managed-unit.ts";
import { createSupervisor, type Supervisor } from "../supervisor/supervisor.ts";
import { createIntegratedUnit, type IntegratedUnit } from "./integrated-unit.ts";
import { createSupervisedStart, type SupervisedStart } from "./supervised-start.ts";
import { alive, echoCommand, pidsOfUnit } from "./test-support/echo.ts";
import { openUnitRecord } from "./unit-record.ts";

// An integrated unit whose process is a managed unit of a real supervisor: the
// supervisor's restart policy and stop escalation, the integrated layer's handshake.
let registrar: Registrar;
let supervisor: Supervisor;
let dir: string;
const units: IntegratedUnit[] = [];
const starts: SupervisedStart[] = [];
let seq = 0;

beforeAll(async () => {
  registrar = await createRegistrar();
  dir = mkdtempSync(join(tmpdir(), "hsu-sup-start-"));
});
afterEach(async () => {
  await Promise.all(units.splice(0).map((u) => u.close()));
  for (const s of supervisor.list()) await supervisor.remove(s.id);
  for (const s of starts.splice(0)) s.close();
});
afterAll(async () => {
  await supervisor.shutdown();
  await registrar.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeAll(() => {
  supervisor = createSupervisor();
});

async function setup(
  command: { command: string; args: string[] },
  options: { restart?: Record<string, unknown>; handshakeTimeoutMs?: number } = {},
): Promise<{ unit: IntegratedUnit; managed: ManagedUnit; id: string }> {
  const id = `sup-${process.pid}-${seq++}`;
  const record = openUnitRecord(join(dir, `${id}.json`));
  const supervised = createSupervisedStart({ id, registrar, record, handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000, shutdownDeadlineMs: 2000 });
  starts.push(supervised);
  await supervisor.add(
    {
      id,
      executable: command.command,
      args: command.args,
      env: { HSU_UNIT_ID: id, HSU_LISTEN: `unix:${join(dir, `${id}.sock`)}`, HSU_MASTER_ADDR: registrar.address, HSU_TOKEN: record.token },
      autoStart: false,
      gracefulTimeoutMs: 2000,
      restart: options.restart ?? { policy: "never" },
    },
    { drain: supervised.drain },
  );
  const managed = supervisor.unit(id);
  supervised.bind(managed);
  const unit = createIntegratedUnit({ id, start: supervised.start, idleTimeoutMs: Infinity });
  units.push(unit);
  return { unit, managed, id };
}

describe("an integrated unit on a managed unit", () => {
  it("a call wakes the managed unit; it is ready once the handshake is done", async () => {
    const { unit, managed, id } = await setup(echoCommand);
    expect(managed.snapshot().state).toBe("stopped");
    expect(await unit.client(EchoService).echo({ message: "hi" })).toMatchObject({ message: "hi", unitId: id });
    expect(managed.snapshot()).toMatchObject({ state: "ready", pid: unit.pid });
  });

  it("kill -9 under a held handle: the supervisor restarts it per policy, the next call re-handshakes with the new process", async () => {
    const { unit, managed } = await setup(echoCommand, { restart: { policy: "always", delayMs: 50 } });
    await unit.start();
    const first = unit.pid!;
    const back = managed.waitFor((s) => s.state === "ready" && s.pid !== first);
    process.kill(first, "SIGKILL");
    const s = await back;
    expect(s.restarts).toBe(1);
    expect(s.lastExit).toMatchObject({ signal: "SIGKILL" });
    await unit.client(EchoService).echo({ message: "again" });
    expect(unit.pid).toBe(s.pid);
    expect(alive(first)).toBe(false);
  });

  it("stop drains through Core Shutdown: the unit exits 0 by itself, before any signal", async () => {
    const { unit, managed, id } = await setup(echoCommand);
    await unit.start();
    await unit.stop();
    expect(managed.snapshot()).toMatchObject({ state: "stopped", lastExit: { code: 0, signal: null } });
    expect(pidsOfUnit(id)).toEqual([]);
  });

  it("a process that never registers is ended as failed after the handshake timeout; the call gets the reason", async () => {
    const { unit, managed, id } = await setup({ command: "sh", args: ["-c", "exec sleep 600"] }, { handshakeTimeoutMs: 300 });
    const err = await unit
      .client(EchoService)
      .echo({ message: "x" })
      .catch((e: unknown) => e as { code: Code; message: string });
    expect(err).toMatchObject({ code: Code.Unavailable, message: expect.stringContaining("no handshake") });
    const s = await managed.waitFor((x) => x.state === "exited");
    expect(s.lastExit).toMatchObject({ signal: "SIGTERM", kind: "failure" });
    expect(pidsOfUnit(id)).toEqual([]);
  });
});
