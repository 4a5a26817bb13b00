// Cold-call overhead and warm-call latency of integrated units over a Unix socket.
// Run: node --conditions=@hsu/source bench/wake/wake.ts [coldRuns=10] [warmCalls=2000]
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRegistrar, launchUnit, type LaunchedUnit } from "@hsu/client";
import { createIntegratedUnit, createLaunchStart } from "@hsu/client";
import { EchoService } from "../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";

const coldRuns = Number(process.argv[2] ?? 10);
const warmCalls = Number(process.argv[3] ?? 2000);
const unitScript = fileURLToPath(new URL("./unit.ts", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "hsu-wake-"));
const timesFile = join(work, "times.json");
const launch = {
  command: process.execPath,
  args: ["--conditions=@hsu/source", unitScript],
  env: { BENCH_TIMES_FILE: timesFile },
  socketDir: work,
};
const now = () => performance.timeOrigin + performance.now();
const registrar = await createRegistrar({ listen: `unix:${join(work, "master.sock")}` });

interface ColdSample {
  total: number;
  unitOwn: number;
  spawnToOrigin: number;
  listenToResponse: number;
  listenToRegistered: number;
  registeredToResponse: number;
  /** The call right after the cold one: connection open, code paths run once. */
  second: number;
}

/** t0: call issued; tReg: the master saw the handshake; t1: first response. */
function sample(t0: number, tReg: number, t1: number, second: number): ColdSample {
  const { origin, listenAt } = JSON.parse(readFileSync(timesFile, "utf8")) as { origin: number; listenAt: number };
  rmSync(timesFile);
  return {
    total: t1 - t0,
    unitOwn: listenAt - origin,
    spawnToOrigin: origin - t0,
    listenToResponse: t1 - listenAt,
    listenToRegistered: tReg - listenAt,
    registeredToResponse: t1 - tReg,
    second,
  };
}

/**
 * Cold calls, interleaved so machine load hits both alike: through an
 * integrated unit (stopped, then one Echo that wakes it), and without the
 * integrated layer (launchUnit, then a call on its own transport).
 */
async function cold(): Promise<{ integrated: ColdSample[]; direct: ColdSample[] }> {
  const id = "wake-integrated";
  let tReg = 0;
  const unit = createIntegratedUnit({
    id,
    idleTimeoutMs: Infinity,
    start: createLaunchStart({ id, registrar, ...launch, onLaunched: () => (tReg = now()) }),
  });
  const echo = unit.client(EchoService);
  const integrated: ColdSample[] = [];
  const direct: ColdSample[] = [];
  try {
    for (let i = 0; i < coldRuns; i++) {
      const t0 = now();
      await echo.echo({ message: "cold" });
      const t1 = now();
      await echo.echo({ message: "second" });
      integrated.push(sample(t0, tReg, t1, now() - t1));
      await unit.stop();

      const d0 = now();
      const u = await launchUnit({ id: "wake-direct", registrar, ...launch, stdio: "pipe" });
      const dReg = now();
      const directEcho = u.client.client(EchoService);
      await directEcho.echo({ message: "cold" });
      const d1 = now();
      await directEcho.echo({ message: "second" });
      direct.push(sample(d0, dReg, d1, now() - d1));
      await u.stop();
    }
  } finally {
    await unit.close();
  }
  return { integrated, direct };
}

async function warmBoth(): Promise<{ integrated: number[]; direct: number[] }> {
  let launched: LaunchedUnit | undefined;
  const id = "wake-warm";
  const unit = createIntegratedUnit({
    id,
    idleTimeoutMs: Infinity,
    start: createLaunchStart({ id, registrar, ...launch, onLaunched: (u) => (launched = u) }),
  });
  await unit.start();
  rmSync(timesFile, { force: true });
  // Interleave in halves so drift (other load on the machine) hits both alike.
  const half = Math.floor(warmCalls / 2);
  const viaIntegrated = unit.client(EchoService);
  const viaDirect = launched!.client.client(EchoService);
  const a1 = await warmN(viaIntegrated, half);
  const b1 = await warmN(viaDirect, half);
  const b2 = await warmN(viaDirect, warmCalls - half);
  const a2 = await warmN(viaIntegrated, warmCalls - half);
  await unit.close();
  return { integrated: [...a1, ...a2], direct: [...b1, ...b2] };
}

async function warmN(echo: { echo(req: { message: string }): Promise<unknown> }, n: number): Promise<number[]> {
  for (let i = 0; i < 100; i++) await echo.echo({ message: "warm-up" });
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await echo.echo({ message: "warm" });
    lat.push(performance.now() - t);
  }
  return lat;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const med = (xs: number[]) => pct(xs, 50);
const f = (n: number) => n.toFixed(2).padStart(9);

try {
  const { integrated, direct } = await cold();
  const w = await warmBoth();
  const cols: [string, (x: ColdSample) => number][] = [
    ["total", (x) => x.total],
    ["unit own", (x) => x.unitOwn],
    ["overhead", (x) => x.total - x.unitOwn],
    ["spawn", (x) => x.spawnToOrigin],
    ["lsn>reg", (x) => x.listenToRegistered],
    ["reg>resp", (x) => x.registeredToResponse],
    ["2nd call", (x) => x.second],
  ];
  const row = (name: string, xs: ColdSample[]) => name.padEnd(22) + cols.map(([, get]) => f(med(xs.map(get)))).join("");
  console.log(`cold call, Unix socket, median of ${coldRuns} runs (ms)`);
  console.log("".padEnd(22) + cols.map(([h]) => h.padStart(9)).join(""));
  console.log(row("integrated (wake)", integrated));
  console.log(row("launchUnit + call", direct));
  const oi = med(integrated.map((x) => x.listenToResponse));
  const od = med(direct.map((x) => x.listenToResponse));
  console.log(`post-listen ratio integrated/direct: ${(oi / od).toFixed(2)}`);
  console.log("");
  console.log(`warm Echo, ${warmCalls} sequential calls each (ms)`);
  console.log(`${"".padEnd(22)}${"p50".padStart(9)}${"p99".padStart(9)}`);
  console.log(`${"integrated client".padEnd(22)}${f(pct(w.integrated, 50))}${f(pct(w.integrated, 99))}`);
  console.log(`${"direct transport".padEnd(22)}${f(pct(w.direct, 50))}${f(pct(w.direct, 99))}`);
  console.log(`p50 ratio integrated/direct: ${(pct(w.integrated, 50) / pct(w.direct, 50)).toFixed(2)}`);
  console.log("");
  console.log("unit own = unit process start (performance.timeOrigin) to listening; overhead = total - unit own;");
  console.log("spawn = call issued to the unit's timeOrigin (fork/exec); lsn>reg = listening to the master seeing the");
  console.log("handshake (the unit's Register call); reg>resp = handshake to first response (connect + the call);");
  console.log("2nd call = the next call on the same connection (what the first call costs without cold start).");
} finally {
  await registrar.close();
  rmSync(work, { recursive: true, force: true });
}
