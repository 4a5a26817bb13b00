// Cold-call overhead and warm-call latency of integrated units over a Unix socket,
// for the echo unit in each language that is built, beside bare Node's start.
// Each unit is woken both ways in the same run, interleaved: "act" = socket activation (the master
// binds the socket, passes it as fd 3 and sends the call at once), "hs" = without (the call waits for
// the handshake, the connection opens when the socket appears).
// Run: node --conditions=@hsu/source bench/wake/wake.ts [coldRuns=10] [warmCalls=2000] [--units=a,b] [--modes=act,hs] [--go=BIN] [--rust=BIN] [--echo-ts-dist=DIR]
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Readable } from "node:stream";
import { createRegistrar, type LaunchedUnit } from "@hsu/client";
import { createIntegratedUnit, createLaunchStart } from "@hsu/client";
import { EchoService } from "../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";

const positional = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const coldRuns = Number(positional[0] ?? 10);
const warmCalls = Number(positional[1] ?? 2000);
const repo = fileURLToPath(new URL("../../", import.meta.url));

interface UnitKind {
  name: string;
  command: string;
  args: string[];
  /** Why it is not measured (not built), or undefined. */
  missing?: string;
}

const echoTs = flag("echo-ts-dist") ?? join(repo, "examples/echo-ts/dist");
const goBin = flag("go") ?? join(repo, "examples/echo-go/bin/unit");
const rustBin = flag("rust") ?? join(repo, "examples/echo-rust/target/release/unit");
const allKinds: UnitKind[] = [
  { name: "ts-source", command: process.execPath, args: ["--conditions=@hsu/source", fileURLToPath(new URL("./unit.ts", import.meta.url))] },
  {
    name: "ts-tsc",
    command: process.execPath,
    args: [join(echoTs, "src/main.js")],
    ...(existsSync(join(echoTs, "src/main.js")) ? {} : { missing: "build examples/echo-ts (npm run build there)" }),
  },
  {
    name: "ts-bundle",
    command: process.execPath,
    args: [join(echoTs, "src/start.js")],
    ...(existsSync(join(echoTs, "unit/main.js")) ? {} : { missing: "build examples/echo-ts (npm run build there)" }),
  },
  { name: "go", command: goBin, args: [], ...(existsSync(goBin) ? {} : { missing: `no ${goBin} (go build -o bin/unit ./cmd/unit in examples/echo-go, or --go=BIN)` }) },
  {
    name: "rust",
    command: rustBin,
    args: [],
    ...(existsSync(rustBin) ? {} : { missing: `no ${rustBin} (cargo build --release --bin unit in examples/echo-rust, or --rust=BIN)` }),
  },
];
const wanted = flag("units")?.split(",");
const kinds = allKinds.filter((k) => !wanted || wanted.includes(k.name));
const modes = (flag("modes") ?? "act,hs").split(",") as ("act" | "hs")[];

const work = mkdtempSync(join(tmpdir(), "hsu-wake-"));
const now = () => performance.now();
const registrar = await createRegistrar({ listen: `unix:${join(work, "master.sock")}` });

interface ColdSample {
  /** Call issued to first response. */
  total: number;
  /** Call issued to spawn() returning in the master (the wake path, fork and exec). */
  spawn: number;
  /** spawn() returned to the unit's "serving on" line: the unit's own start. */
  unitOwn: number;
  /** "serving on" to the master seeing the handshake (the unit's Register call). */
  listenToRegistered: number;
  /** Handshake to the first response (the call: connection and the unit serving it). */
  registeredToResponse: number;
  /** The call right after the cold one: connection open, code paths run once. */
  second: number;
}

/** Calls `onListen` at the first line holding "serving on" (stderr, or stdout for the Rust unit); keeps both pipes flowing. */
function watchListen(onListen: () => void): (stream: "stdout" | "stderr", source: Readable) => void {
  let seen = false;
  return (_stream, source) => {
    source.setEncoding("utf8").on("data", (chunk: string) => {
      if (!seen && chunk.includes("serving on")) {
        seen = true;
        onListen();
      }
    });
  };
}

/** Cold calls through an integrated unit: stopped, then one Echo that wakes it. */
async function cold(kind: UnitKind, mode: "act" | "hs", runs: number): Promise<ColdSample[]> {
  const id = `wake-${kind.name}-${mode}`;
  let tListen = 0;
  let tSpawned = 0;
  let tReg = 0;
  const unit = createIntegratedUnit({
    id,
    idleTimeoutMs: Infinity,
    start: createLaunchStart({
      id,
      registrar,
      command: kind.command,
      args: kind.args,
      socketDir: work,
      socketActivation: mode === "act",
      // launchUnit hands the pipes over right after spawn() returns.
      output: (stream, source) => {
        if (stream === "stdout") tSpawned = now();
        watchListen(() => (tListen = now()))(stream, source);
      },
      onLaunched: () => (tReg = now()),
    }),
  });
  const echo = unit.client(EchoService);
  const samples: ColdSample[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      tListen = 0;
      tReg = 0;
      const t0 = now();
      await echo.echo({ message: "cold" });
      const t1 = now();
      await echo.echo({ message: "second" });
      const second = now() - t1;
      // With socket activation the answer can come before the handshake: wait for it before reading tReg.
      await unit.start();
      if (tListen === 0) throw new Error(`${kind.name}: no "serving on" line before the first response`);
      samples.push({ total: t1 - t0, spawn: tSpawned - t0, unitOwn: tListen - tSpawned, listenToRegistered: tReg - tListen, registeredToResponse: t1 - tReg, second });
      await unit.stop();
    }
  } finally {
    await unit.close();
  }
  return samples;
}

/** Bare Node's start the same way: spawn() returned to its first stderr line, and the spawn() call. */
function bareOnce(): Promise<{ own: number; spawn: number }> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(process.execPath, ["-e", 'process.stderr.write("serving on\\n")'], { stdio: ["ignore", "ignore", "pipe"] });
    const spawned = now();
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("bare node did not write within 10 s"));
    }, 10_000);
    let t: number | undefined;
    watchListen(() => (t = now() - spawned))("stderr", child.stderr!);
    child.once("exit", () => {
      clearTimeout(timer);
      if (t === undefined) reject(new Error("bare node exited without writing"));
      else resolve({ own: t, spawn: spawned - t0 });
    });
  });
}

async function warmBoth(kind: UnitKind): Promise<{ integrated: number[]; direct: number[] }> {
  let launched: LaunchedUnit | undefined;
  const id = "wake-warm";
  const unit = createIntegratedUnit({
    id,
    idleTimeoutMs: Infinity,
    start: createLaunchStart({ id, registrar, command: kind.command, args: kind.args, socketDir: work, onLaunched: (u) => (launched = u) }),
  });
  await unit.start();
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
const f = (n: number) => n.toFixed(1).padStart(9);

try {
  const measured = kinds.filter((k) => !k.missing);
  for (const k of kinds.filter((k) => k.missing)) console.log(`skipped ${k.name}: ${k.missing}`);
  // Rounds interleave the kinds (and bare Node) so machine load hits all alike.
  const rows = measured.flatMap((k) => modes.map((mode) => ({ kind: k, mode, name: `${k.name} ${mode}` })));
  const results = new Map<string, ColdSample[]>(rows.map((r) => [r.name, []]));
  const bare: { own: number; spawn: number }[] = [];
  const perRound = Math.max(1, Math.ceil(coldRuns / 5));
  for (let done = 0; done < coldRuns; done += perRound) {
    const n = Math.min(perRound, coldRuns - done);
    for (let i = 0; i < n; i++) bare.push(await bareOnce());
    for (const r of rows) results.get(r.name)!.push(...(await cold(r.kind, r.mode, n)));
  }
  const bareMed = med(bare.map((b) => b.own));
  const cols: [string, (x: ColdSample) => number][] = [
    ["total", (x) => x.total],
    ["spawn", (x) => x.spawn],
    ["unit own", (x) => x.unitOwn],
    ["own/bare", (x) => x.unitOwn / bareMed],
    ["overhead", (x) => x.total - x.unitOwn],
    ["lsn>reg", (x) => x.listenToRegistered],
    ["reg>resp", (x) => x.registeredToResponse],
    ["2nd call", (x) => x.second],
  ];
  console.log(`cold call through an integrated unit, Unix socket, median of ${coldRuns} runs (ms); load ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  console.log("".padEnd(15) + cols.map(([h]) => h.padStart(9)).join(""));
  console.log("bare node".padEnd(15) + f(bareMed + med(bare.map((b) => b.spawn))) + f(med(bare.map((b) => b.spawn))) + f(bareMed) + f(1));
  for (const r of rows) {
    const xs = results.get(r.name)!;
    console.log(r.name.padEnd(15) + cols.map(([, get]) => f(med(xs.map(get)))).join(""));
  }
  const warmKind = measured.find((k) => k.name.startsWith("ts"));
  if (warmKind && warmCalls > 0) {
    const w = await warmBoth(warmKind);
    console.log("");
    console.log(`warm Echo (${warmKind.name}), ${warmCalls} sequential calls each (ms)`);
    console.log(`${"".padEnd(22)}${"p50".padStart(9)}${"p99".padStart(9)}`);
    console.log(`${"integrated client".padEnd(22)}${f2(pct(w.integrated, 50))}${f2(pct(w.integrated, 99))}`);
    console.log(`${"direct transport".padEnd(22)}${f2(pct(w.direct, 50))}${f2(pct(w.direct, 99))}`);
  }
  console.log("");
  console.log("spawn = call issued to spawn() returning (for bare node: the spawn() call); unit own = spawn()");
  console.log('returned to the unit\'s "serving on" line (bare node: to its first stderr line), as the master sees it;');
  console.log("overhead = total - unit own: what the master side adds above the unit's own start; lsn>reg =");
  console.log("listening to the master seeing the handshake (the unit's Register call); reg>resp = handshake to");
  console.log("first response (connection + the call; negative when the unit answered before its handshake");
  console.log("arrived); 2nd call = the next call on the same connection. act = socket activation, hs = without.");
} finally {
  await registrar.close();
  rmSync(work, { recursive: true, force: true });
}

function f2(n: number): string {
  return n.toFixed(2).padStart(9);
}

