// The prompts, through a real pseudo-terminal (util-linux `script`): each
// answer is typed once its question is on screen.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { makeTempDir } from "./test-support/temp.ts";

const cli = fileURLToPath(new URL("./cli.ts", import.meta.url));
const hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe.skipIf(!hasScript)("create-hsu-unit prompts (needs util-linux script for a pty)", () => {
  it("asks for name, language, proto and directory, then creates the project", async () => {
    const t = makeTempDir("hsu-pty-");
    cleanups.push(t.cleanup);
    const command = `${process.execPath} --conditions=@hsu/source ${cli} --no-generate`;
    const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd: t.dir, stdio: ["pipe", "pipe", "pipe"], detached: true });
    cleanups.push(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // Already exited.
      }
    });
    let screen = "";
    const waiters: { text: string; resolve: () => void }[] = [];
    child.stdout.on("data", (chunk: Buffer) => {
      screen += chunk.toString("utf8");
      for (const w of waiters.splice(0)) {
        if (screen.includes(w.text)) w.resolve();
        else waiters.push(w);
      }
    });
    const shown = (text: string) =>
      new Promise<void>((resolve) => (screen.includes(text) ? resolve() : waiters.push({ text, resolve })));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));

    await shown("Unit name");
    child.stdin.write("Bad_Name\r");
    await shown("is not valid");
    // Clear the rejected answer (Ctrl-U) and type a good one.
    child.stdin.write("\u0015pty-unit\r");
    await shown("Language");
    // The list starts on TypeScript, the default.
    child.stdin.write("\r");
    await shown(".proto file");
    child.stdin.write("\r");
    await shown("Target directory");
    child.stdin.write("\r");
    expect(await exited, screen).toBe(0);
    expect(screen).toContain("Created pty-unit (ts)");
    expect(existsSync(join(t.dir, "pty-unit/src/services/pty-unit-service.ts"))).toBe(true);
    expect(JSON.parse(readFileSync(join(t.dir, "pty-unit/hsu-unit.json"), "utf8")).language).toBe("ts");
  });
});
