// The supervisord side (Debian's `supervisor` package), when installed:
// supervisord runs in the foreground as this process's child with a config
// written here, and is driven over its XML-RPC Unix socket. Prints one
// SideResult JSON line; always stops supervisord.
//
//   node bench/supervisor/supervisord-side.ts <workDir> [--quick]
import { spawn, execFileSync } from "node:child_process";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { childPids, comm, countLines, cpuMs, pollUntil, rssKib } from "./proc.ts";
import { idleUnit, logWriter, scenario, type SideResult } from "./scenario.ts";

const workDir = process.argv[2];
if (!workDir) throw new Error("usage: supervisord-side.ts <workDir> [--quick]");
const s = scenario(process.argv.includes("--quick"));
const sock = join(workDir, "supervisord.sock");
const outFile = join(workDir, "supervisord-logger.out.log");
const writer = logWriter(s.logLines);
const version = execFileSync("supervisord", ["--version"], { encoding: "utf8" }).trim();

writeFileSync(
  join(workDir, "supervisord.conf"),
  `[supervisord]
nodaemon=true
logfile=${join(workDir, "supervisord.log")}
pidfile=${join(workDir, "supervisord.pid")}
childlogdir=${workDir}

[unix_http_server]
file=${sock}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:u]
command=${idleUnit.command} ${idleUnit.args.join(" ")}
process_name=%(program_name)s%(process_num)03d
numprocs=${s.units}
autostart=false
autorestart=true
startsecs=0
startretries=10000
stdout_logfile=${join(workDir, "sv-%(program_name)s%(process_num)03d.log")}
redirect_stderr=true

[program:logger]
command=${writer.command} ${writer.args.map((a) => `"${a.replaceAll("%", "%%")}"`).join(" ")}
autostart=false
autorestart=false
startsecs=0
stdout_logfile=${outFile}
stdout_logfile_maxbytes=0
redirect_stderr=true
`,
);

/** One XML-RPC call over the Unix socket; resolves with the raw response body. */
function rpc(method: string, params: string[] = []): Promise<string> {
  const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params.map((p) => `<param><value>${p}</value></param>`).join("")}</params></methodCall>`;
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, path: "/RPC2", method: "POST", headers: { "content-type": "text/xml" } }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => (text += c));
      res.on("end", () => (text.includes("<fault>") ? reject(new Error(`${method}: ${text}`)) : resolve(text)));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const sleepers = (pid: number) => [...childPids(pid)].filter((p) => comm(p) === "sleep");
const daemon = spawn("supervisord", ["-c", join(workDir, "supervisord.conf")], { stdio: "ignore" });
let gone = false;
const daemonExited = new Promise<void>((resolve) => daemon.once("exit", () => resolve((gone = true) && undefined)));
try {
  const pid = daemon.pid!;
  if ((await pollUntil(() => (existsSync(sock) || gone ? true : undefined), s.timeoutMs, 10)) === undefined) throw new Error("supervisord did not open its socket");
  if (gone) throw new Error(`supervisord exited at start; see ${join(workDir, "supervisord.log")} or run it with -n by hand`);
  await rpc("supervisor.getState");

  progress("starting units");
  // 1. Start every unit (startAllProcesses, not waiting); done when each has a process.
  const t0 = performance.now();
  await rpc("supervisor.startProcessGroup", ["<string>u</string>", "<boolean>0</boolean>"]);
  if ((await pollUntil(() => (sleepers(pid).length >= s.units ? true : undefined), s.timeoutMs)) === undefined) {
    throw new Error("supervisord did not start every unit in time");
  }
  const start100Ms = performance.now() - t0;

  progress("killing units one at a time");
  // 2. kill -9 one unit at a time; done when supervisord has a new `sleep` child.
  const restartMs: number[] = [];
  for (let k = 0; k < s.kills; k++) {
    const before = new Set(sleepers(pid));
    const victim = [...before][k]!;
    const t = performance.now();
    process.kill(victim, "SIGKILL");
    const fresh = await pollUntil(() => sleepers(pid).find((p) => !before.has(p)), s.timeoutMs);
    if (fresh === undefined) throw new Error("supervisord did not restart a killed unit in time");
    restartMs.push(performance.now() - t);
  }

  progress("idle window");
  // 3. Idle: supervisord's own RSS and CPU.
  const cpu0 = cpuMs(pid);
  const w0 = performance.now();
  let maxRss = 0;
  while (performance.now() - w0 < s.idleMs) {
    maxRss = Math.max(maxRss, rssKib(pid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const idleCpuPercent = ((cpuMs(pid) - cpu0) / (performance.now() - w0)) * 100;
  await rpc("supervisor.stopProcessGroup", ["<string>u</string>", "<boolean>1</boolean>"]);

  progress("log throughput");
  // 4. The log writer; done when it has exited and its file stopped growing.
  const l0 = performance.now();
  await rpc("supervisor.startProcess", ["<string>logger</string>", "<boolean>0</boolean>"]);
  let lastSize = -1;
  let lastChange = performance.now();
  const logEnd = performance.now() + s.timeoutMs;
  for (;;) {
    const size = existsSync(outFile) ? statSync(outFile).size : 0;
    if (size !== lastSize) [lastSize, lastChange] = [size, performance.now()];
    const writing = [...childPids(pid)].some((p) => comm(p) === "seq");
    if ((!writing && performance.now() - lastChange > 1000) || performance.now() > logEnd) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const logMs = lastChange - l0;
  const logCaptured = await countLines(outFile);

  const result: SideResult = {
    side: "supervisord",
    version: `supervisord ${version}`,
    start100Ms,
    restartMs,
    idleRssKib: maxRss,
    idleCpuPercent,
    logLines: s.logLines,
    logCaptured,
    logMs,
    notes: [
      "start: XML-RPC startProcessGroup (no wait) until supervisord has every `sleep` child in /proc",
      "restart: kill -9 until a new `sleep` child appears in /proc",
      "idle: supervisord only; it samples no resources",
      "log: plain lines (no timestamp), time until the file stopped growing (polled every 50 ms)",
    ],
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  daemon.kill("SIGTERM");
  const timer = setTimeout(() => daemon.kill("SIGKILL"), 10_000);
  await daemonExited;
  clearTimeout(timer);
}

function progress(step: string): void {
  process.stderr.write(`  supervisord: ${step}\n`);
}
