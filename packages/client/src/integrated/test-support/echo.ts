// Shared by this folder's tests: the echo example unit, spawn counting and process lookups.
import { fileURLToPath } from "node:url";
import { isRunning, listPidsSync, readEnvironSync, readStatSync } from "../../resources/proc.ts";
import type { IntegratedEvent, IntegratedEventType } from "../events.ts";
import type { StartUnit, UnitHandle } from "../handle.ts";
import type { IntegratedUnit } from "../integrated-unit.ts";

/** The echo example unit (examples/echo/src/unit.ts), run from source. */
export const echoUnitScript = fileURLToPath(new URL("../../../../../examples/echo/src/unit.ts", import.meta.url));

/** Command and arguments that run the echo unit with Node 24. */
export const echoCommand = { command: process.execPath, args: ["--conditions=@hsu/source", echoUnitScript] };

/** A unit that prints the signals it gets and stays alive after a drain (examples/echo/src/test-fixtures/probe-unit.ts). */
export const probeUnitScript = fileURLToPath(new URL("../../../../../examples/echo/src/test-fixtures/probe-unit.ts", import.meta.url));

/** Command and arguments that run the probe unit with Node 24. */
export const probeCommand = { command: process.execPath, args: ["--conditions=@hsu/source", probeUnitScript] };

/** A start function that counts its invocations and remembers every pid it started. */
export function countingStart(inner: StartUnit): StartUnit & { calls: number; pids: number[] } {
  const counted = Object.assign(
    async (signal: AbortSignal, onSpawned?: Parameters<StartUnit>[1]): Promise<UnitHandle> => {
      counted.calls++;
      const handle = await inner(signal, onSpawned);
      counted.pids.push(handle.pid);
      return handle;
    },
    { calls: 0, pids: [] as number[] },
  );
  return counted;
}

/** Pids of live processes whose environment carries HSU_UNIT_ID=`unitId` (read from /proc). */
export function pidsOfUnit(unitId: string): number[] {
  const needle = `HSU_UNIT_ID=${unitId}`;
  const found: number[] = [];
  for (const pid of listPidsSync()) {
    try {
      // A zombie has exited; it only waits to be reaped.
      if (readEnvironSync(pid)?.includes(needle) && isRunning(readStatSync(pid))) found.push(pid);
    } catch {
      // The process ended while we looked, or is not ours to read.
    }
  }
  return found;
}

/** True while a process with this pid exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return isRunning(readStatSync(pid));
  } catch {
    return false;
  }
}

/** Resolves with the next event of `type` (subscribe before causing it). */
/**
 * Under socket activation a call can be answered before the master has seen
 * the unit's handshake (docs/unit-contract.md): until "ready" the unit is
 * starting and has no pid. Resolves once it is running.
 */
export async function whenReady(unit: IntegratedUnit): Promise<void> {
  if (unit.state === "starting") await nextEvent(unit, "ready");
}

export function nextEvent(unit: IntegratedUnit, type: IntegratedEventType): Promise<IntegratedEvent> {
  return new Promise((resolve) => {
    const off = unit.on((e) => {
      if (e.type !== type) return;
      off();
      resolve(e);
    });
  });
}

/** Records every event of a unit, in order. */
export function recordEvents(unit: IntegratedUnit): IntegratedEvent[] {
  const seen: IntegratedEvent[] = [];
  unit.on((e) => seen.push(e));
  return seen;
}
