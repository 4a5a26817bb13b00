import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectUnit, type LaunchedUnit } from "@hsu/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "./gen/hsu/examples/echo/v1/echo_pb.js";
import { codeOf } from "./rpc-outcome.ts";

/** What the Reconfigure checks need from the suite that runs them. */
export interface ReconfigureSuite {
  /** Starts the unit as a master would, with `env` on top of its environment. */
  launch(env: Record<string, string>): Promise<LaunchedUnit>;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * Core Reconfigure, black-box: every generated unit reloads HSU_CONFIG_DIR
 * on a token-checked call and answers what it loaded, refuses with
 * FAILED_PRECONDITION when it cannot read the directory, and serves its
 * domain calls all along. Call inside a describe whose `suite` is ready by
 * the time the tests run.
 */
export function describeReconfigure(suite: ReconfigureSuite): void {
  describe("Core Reconfigure (HSU_CONFIG_DIR)", () => {
    const root = mkdtempSync(join(tmpdir(), "hsu-cfg-"));
    const dir = join(root, "config");
    let u: LaunchedUnit;
    const core = () => u.client.core;
    const write = (files: Record<string, string>) => {
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
    };

    beforeAll(async () => {
      mkdirSync(dir, { mode: 0o700 });
      write({ "app.conf": "mode=one\n", "limits.json": '{"max": 1}\n' });
      u = await suite.launch({ HSU_CONFIG_DIR: dir });
    });
    afterAll(async () => {
      await u?.stop(5000);
      rmSync(root, { recursive: true, force: true });
    });

    it("refuses a call without the token (UNAUTHENTICATED) or with a wrong one (PERMISSION_DENIED), and keeps serving", async () => {
      expect(await codeOf(connectUnit(u.info.address).core.reconfigure({ generation: 1n }))).toMatch(/^Unauthenticated:/);
      expect(await codeOf(connectUnit(u.info.address, { token: "not-the-token" }).core.reconfigure({ generation: 1n }))).toMatch(/^PermissionDenied:/);
      expect(await u.client.ping()).toBe(u.id);
    });

    it("answers every regular file with its sha256 and echoes the generation (skipping dot files, folders and a FIFO, which would block)", async () => {
      writeFileSync(join(dir, ".app.conf.tmp"), "half-written");
      mkdirSync(join(dir, "sub"), { recursive: true });
      execFileSync("mkfifo", [join(dir, "pipe")]);
      try {
        const res = await core().reconfigure({ generation: 7n, changedFiles: ["app.conf"] }, { timeoutMs: 10_000 });
        expect(res.generation).toBe(7n);
        expect(res.files.map((f) => ({ name: f.name, sha256: f.sha256 }))).toEqual([
          { name: "app.conf", sha256: sha256("mode=one\n") },
          { name: "limits.json", sha256: sha256('{"max": 1}\n') },
        ]);
      } finally {
        for (const extra of [".app.conf.tmp", "sub", "pipe"]) rmSync(join(dir, extra), { recursive: true, force: true });
      }
    });

    it("reflects a changed, an added and a removed file in the reply, and keeps its process", async () => {
      const pid = (await u.client.info()).pid;
      write({ "app.conf": "mode=two\n", "extra.conf": "" });
      rmSync(join(dir, "limits.json"));
      const res = await core().reconfigure({ generation: 8n, changedFiles: ["app.conf", "extra.conf", "limits.json"] });
      expect(res.generation).toBe(8n);
      expect(res.files.map((f) => [f.name, f.sha256])).toEqual([
        ["app.conf", sha256("mode=two\n")],
        ["extra.conf", sha256("")],
      ]);
      expect((await u.client.info()).pid).toBe(pid);
    });

    it("echoes the largest generation a uint64 holds", async () => {
      const max = (1n << 64n) - 1n;
      expect((await core().reconfigure({ generation: max })).generation).toBe(max);
    });

    it("answers Echo calls while reloading, and after", async () => {
      const echo = u.client.client(EchoService);
      const slow = echo.echo({ message: "during", delayMs: 300 }, { timeoutMs: 10_000 });
      const calls = Array.from({ length: 20 }, (_, i) => echo.echo({ message: `call ${i}` }, { timeoutMs: 10_000 }));
      const reloads = Array.from({ length: 5 }, (_, i) => core().reconfigure({ generation: BigInt(100 + i) }, { timeoutMs: 10_000 }));
      const [done, answers, reloaded] = await Promise.all([slow, Promise.all(calls), Promise.all(reloads)]);
      expect(done.message).toBe("during");
      expect(answers.map((a) => a.message)).toEqual(calls.map((_, i) => `call ${i}`));
      expect(reloaded.map((r) => r.generation)).toEqual([100n, 101n, 102n, 103n, 104n]);
      expect((await echo.echo({ message: "after" })).message).toBe("after");
    });

    it("answers FAILED_PRECONDITION naming the directory when it cannot be read, keeps serving, and reloads once it is back", async () => {
      const away = join(root, "moved");
      renameSync(dir, away);
      try {
        const refused = await codeOf(core().reconfigure({ generation: 9n }));
        expect(refused).toMatch(/^FailedPrecondition:/);
        expect(refused).toContain(dir);
        expect((await u.client.client(EchoService).echo({ message: "still here" })).message).toBe("still here");
      } finally {
        renameSync(away, dir);
      }
      expect((await core().reconfigure({ generation: 10n })).generation).toBe(10n);
    });
  });

  describe("Core Reconfigure without HSU_CONFIG_DIR", () => {
    let u: LaunchedUnit;
    beforeAll(async () => {
      u = await suite.launch({});
    });
    afterAll(async () => {
      await u?.stop(5000);
    });

    it("answers FAILED_PRECONDITION saying HSU_CONFIG_DIR is not set", async () => {
      const refused = await codeOf(u.client.core.reconfigure({ generation: 1n }));
      expect(refused).toMatch(/^FailedPrecondition:/);
      expect(refused).toContain("HSU_CONFIG_DIR");
    });
  });
}
