import { createClient } from "@connectrpc/connect";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { unitTransport } from "../cli/unit-transport.ts";
import { parseDeployment } from "../config/index.ts";
import { runMaster, type RunningMaster } from "./run.ts";

// `hsu apply` when only a unit's rendered config changed: an integrated unit
// with a reload hook takes the new files over Core Reconfigure and keeps its
// process; every other unit whose config changed is restarted; the rest are
// left alone.
const fixture = join(import.meta.dirname, "..", "..", "..", "..", "examples", "echo", "src", "test-fixtures", "reload-unit.ts");
const unit = `kind: integrated
    on_demand: false
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${fixture}"]`;
const dir = mkdtempSync(join(tmpdir(), "hsu-reconfigure-"));
const spec = `units:
  reloader:
    ${unit}
    env: { RELOAD: "1" }
    env_file: reloader.env
    config: { app.conf: { template: reloader.tmpl } }
  refuser:
    ${unit}
    env: { RELOAD: refuse }
    config: { app.conf: { template: refuser.tmpl } }
  nohook:
    ${unit}
    config: { app.conf: { template: nohook.tmpl } }
  resting:
    ${unit.replace("on_demand: false", "on_demand: true")}
    env: { RELOAD: "1" }
    config: { app.conf: { template: resting.tmpl } }
  managed:
    command: sh
    args: ["-c", "exec sleep 600"]
    config: { app.conf: { template: managed.tmpl } }
  pool:
    ${unit}
    env: { RELOAD: "1" }
    replicas: 2
    config: { app.conf: { template: pool.tmpl } }
  bystander:
    ${unit}
    env: { RELOAD: "1" }
    config: { app.conf: { content: "never changes\\n" } }
`;
const templates = ["reloader", "refuser", "nohook", "resting", "managed", "pool"];
const write = (name: string, text: string) => writeFileSync(join(dir, name), text);

let running: RunningMaster;
beforeAll(async () => {
  for (const t of templates) write(`${t}.tmpl`, `${t} v1\n`);
  write("reloader.env", "MODE=a\n");
  running = await runMaster(parseDeployment(spec, "hsu.yaml", dir), { handleSignals: false, log: () => {} });
  await running.master.up();
}, 60_000);
afterAll(async () => {
  await running?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const pid = (id: string) => running.master.get(id)[0]!.pid;
const loaded = async (id: string) =>
  (await createClient(EchoService, unitTransport(running.control.socketPath, id)).echo({ message: "loaded" }, { timeoutMs: 10_000 })).message;
const apply = async () => running.master.apply(parseDeployment(spec, "hsu.yaml", dir));
const pids = () => Object.fromEntries(["reloader", "refuser", "nohook", "managed", "bystander", "pool-0", "pool-1"].map((id) => [id, pid(id)]));

describe("hsu apply with a config-only change", () => {
  it("reloads the integrated unit that has a hook (same pid, new files loaded) and restarts every other changed unit", async () => {
    expect(await loaded("reloader")).toBe("reloader v1\n");
    const before = pids();
    for (const id of Object.values(before)) expect(id).toBeGreaterThan(0);
    for (const t of templates) write(`${t}.tmpl`, `${t} v2\n`);

    const plan = await apply();
    expect(plan.changed.sort()).toEqual(["managed", "nohook", "refuser", "resting"]);
    expect(plan.unchanged.sort()).toEqual(["bystander", "pool", "reloader"]);
    const after = pids();
    for (const id of ["reloader", "bystander", "pool-0", "pool-1"]) expect(after[id], id).toBe(before[id]);
    for (const id of ["refuser", "nohook", "managed"]) expect(after[id], id).not.toBe(before[id]);
    // The kept process has the new content in memory; the restarted ones read it at start.
    expect(await loaded("reloader")).toBe("reloader v2\n");
    expect(await loaded("refuser")).toBe("refuser v2\n");
    expect(await loaded("nohook")).toBe("nohook v2\n");
    expect(await loaded("bystander")).toBe("never changes\n");
    // Every replica of a pool reloads.
    expect(await loaded("pool-0")).toBe("pool v2\n");
    expect(await loaded("pool-1")).toBe("pool v2\n");
    expect(readFileSync(join(dir, ".hsu", "config", "reloader", "app.conf"), "utf8")).toBe("reloader v2\n");
    expect(running.master.logs.tail("reloader", 50).map((l) => l.text).join("\n")).toMatch(/reloaded generation 2 \(changed: app\.conf\)/);
  }, 90_000);

  it("after a reload the master knows the new render: applying again changes nothing, a restart renders the same", async () => {
    const before = pids();
    const plan = await apply();
    expect(plan.changed).toEqual([]);
    expect(pids()).toEqual(before);
    await running.master.restart("reloader");
    expect(await loaded("reloader")).toBe("reloader v2\n");
  }, 60_000);

  it("an env file that changed with the config restarts even a unit with a hook (the environment needs a new process)", async () => {
    const before = pid("reloader");
    write("reloader.tmpl", "reloader v3\n");
    write("reloader.env", "MODE=b\n");
    const plan = await apply();
    expect(plan.changed).toEqual(["reloader"]);
    expect(pid("reloader")).not.toBe(before);
    expect(await loaded("reloader")).toBe("reloader v3\n");
  }, 60_000);

  it("a reload hook that refuses leaves the unit to a restart that loads the new files", async () => {
    const before = pid("refuser");
    write("refuser.tmpl", "refuser v3\n");
    const plan = await apply();
    expect(plan.changed).toEqual(["refuser"]);
    expect(pid("refuser")).not.toBe(before);
    expect(await loaded("refuser")).toBe("refuser v3\n");
  }, 60_000);
});
