// The supervisord side (Debian's `supervisor` package): supervisord in the foreground with
// a config written here, driven over its XML-RPC Unix socket like ../supervisor/supervisord-side.ts.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { pollUntil } from "../supervisor/proc.ts";
import { unitArg, type Side } from "./measure.ts";

export interface SupervisordSide extends Side {
  close(): Promise<void>;
}

export async function startSupervisord(dir: string, n: number): Promise<SupervisordSide> {
  const sock = join(dir, "supervisord.sock");
  const conf = join(dir, "supervisord.conf");
  const version = execFileSync("supervisord", ["--version"], { encoding: "utf8" }).trim();
  writeFileSync(
    conf,
    `[supervisord]
nodaemon=true
logfile=${join(dir, "supervisord.log")}
pidfile=${join(dir, "supervisord.pid")}
childlogdir=${dir}
minfds=${Math.max(1024, n * 4 + 256)}

[unix_http_server]
file=${sock}

[supervisorctl]
serverurl=unix://${sock}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:u]
command=sleep ${unitArg}
process_name=%(program_name)s%(process_num)04d
numprocs=${n}
autostart=false
autorestart=true
startsecs=0
startretries=10000
stdout_logfile=${join(dir, "sv-%(program_name)s%(process_num)04d.log")}
redirect_stderr=true
`,
  );
  const daemon: ChildProcess = spawn("supervisord", ["-c", conf], { stdio: "ignore", detached: true });
  let gone = false;
  const exited = new Promise<void>((resolve) => daemon.once("exit", () => ((gone = true), resolve())));
  if ((await pollUntil(() => (existsSync(sock) || gone ? true : undefined), 60_000, 10)) === undefined || gone) {
    daemon.kill("SIGKILL");
    throw new Error(`supervisord did not open its socket; see ${join(dir, "supervisord.log")}`);
  }
  const rpc = (method: string, params: string[] = []) => xmlRpc(sock, method, params);
  await rpc("supervisor.getState");
  return {
    name: "supervisord",
    version: `supervisord ${version}`,
    daemonPid: daemon.pid!,
    startAll: () => rpc("supervisor.startProcessGroup", ["<string>u</string>", "<boolean>0</boolean>"]),
    stopAll: () => rpc("supervisor.stopProcessGroup", ["<string>u</string>", "<boolean>0</boolean>"]),
    status: { command: "supervisorctl", args: ["-c", conf, "status"], cwd: dir },
    notes: [
      "supervisord -n with one program of `numprocs` N, `autorestart=true, startsecs=0`, output to a log file per unit",
      "start / stop: XML-RPC startProcessGroup / stopProcessGroup (wait=false) from the benchmark process",
      "status: `supervisorctl status` (a new CLI process) to its exit",
    ],
    async close() {
      if (gone) return;
      daemon.kill("SIGTERM");
      const timer = setTimeout(() => daemon.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One XML-RPC call over the Unix socket; resolves with the raw response body. */
function xmlRpc(sock: string, method: string, params: string[]): Promise<string> {
  const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params.map((p) => `<param><value>${p}</value></param>`).join("")}</params></methodCall>`;
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, path: "/RPC2", method: "POST", headers: { "content-type": "text/xml" }, timeout: 120_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => (text += c));
      res.on("end", () => (text.includes("<fault>") ? reject(new Error(`${method}: ${text}`)) : resolve(text)));
    });
    req.on("timeout", () => req.destroy(new Error(`${method}: no answer in 120 s`)));
    req.on("error", reject);
    req.end(body);
  });
}
