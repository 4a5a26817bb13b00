import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { CoreService } from "@hsu/proto/gen/hsu/core/v1/core_pb.js";
import { createUnitTransport } from "@hsu/transport";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ReconfigureEvent } from "./reconfigure.ts";
import { serveUnit, type RunningUnit, type ServeUnitOptions } from "./serve-unit.ts";

const token = "t0ken";
let unit: RunningUnit | undefined;
let root: string | undefined;
afterEach(async () => {
  await unit?.shutdown(1000);
  unit = undefined;
  if (root) rmSync(root, { recursive: true, force: true });
});

async function start(extra: Partial<ServeUnitOptions>, env: Record<string, string> = {}) {
  root = mkdtempSync(join(tmpdir(), "hsu-reconf-"));
  const dir = join(root, "config");
  mkdirSync(dir);
  writeFileSync(join(dir, "app.conf"), "a=1\n");
  unit = await serveUnit({
    name: "reconf",
    env: { HSU_LISTEN: `unix:${root}/u.sock`, HSU_TOKEN: token, HSU_CONFIG_DIR: dir, ...env },
    exitProcess: false,
    handleSignals: false,
    log: () => {},
    ...extra,
  });
  const core = (t?: string) => createClient(CoreService, createUnitTransport(unit!.address, t ? { token: t } : {}));
  return { dir, core };
}

const codeOf = async (call: Promise<unknown>) => {
  try {
    await call;
    return "ok";
  } catch (e) {
    return Code[ConnectError.from(e).code];
  }
};

describe("serveUnit onReconfigure", () => {
  it("checks the token before anything else, even on a unit without a hook", async () => {
    const { core } = await start({});
    expect(await codeOf(core().reconfigure({}))).toBe("Unauthenticated");
    expect(await codeOf(core("wrong").reconfigure({}))).toBe("PermissionDenied");
    expect(await codeOf(core(token).reconfigure({}))).toBe("Unimplemented");
  });

  it("hands the hook the whole directory read again, and a refusal becomes FAILED_PRECONDITION with its message", async () => {
    const seen: ReconfigureEvent[] = [];
    let refuse = false;
    const { dir, core } = await start({
      onReconfigure: (event) => {
        if (refuse) throw new Error("port 0 is not allowed");
        seen.push(event);
      },
    });
    writeFileSync(join(dir, "app.conf"), "a=2\n");
    const res = await core(token).reconfigure({ generation: 3n, changedFiles: ["app.conf"] });
    expect(res.generation).toBe(3n);
    expect(seen[0]!.files.map((f) => [f.name, f.content.toString()])).toEqual([["app.conf", "a=2\n"]]);
    expect(seen[0]!.changedFiles).toEqual(["app.conf"]);
    refuse = true;
    const err = await core(token).reconfigure({ generation: 4n }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((err as ConnectError).rawMessage).toContain("port 0 is not allowed");
  });

  it("runs one reload at a time", async () => {
    let active = 0;
    let most = 0;
    const { core } = await start({
      onReconfigure: async () => {
        most = Math.max(most, ++active);
        await new Promise((r) => setTimeout(r, 20));
        active--;
      },
    });
    const all = await Promise.all(Array.from({ length: 5 }, (_, i) => core(token).reconfigure({ generation: BigInt(i) })));
    expect(all.map((r) => r.generation)).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect(most).toBe(1);
  });
});
