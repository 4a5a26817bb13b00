import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveExecutable, resolveExecutableCached } from "./executable.ts";

let dir: string;
let a: string;
let b: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hsu-exe-"));
  a = join(dir, "a");
  b = join(dir, "b");
  mkdirSync(a);
  mkdirSync(b);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const tool = (where: string, mode = 0o755) => {
  const file = join(where, "tool");
  writeFileSync(file, "#!/bin/sh\n");
  chmodSync(file, mode);
  return file;
};
const options = () => ({ cwd: dir, pathEnv: `${a}:${b}` });

describe("resolveExecutableCached", () => {
  it("finds what resolveExecutable finds, and keeps it while that file is still an executable file", () => {
    const inB = tool(b);
    expect(resolveExecutableCached("tool", options())).toEqual(resolveExecutable("tool", options()));
    expect(resolveExecutableCached("tool", options())).toEqual({ path: inB });
    // Like a shell's command hash: one that appears earlier in PATH later is not looked for while the one found is there.
    tool(a);
    expect(resolveExecutableCached("tool", options())).toEqual({ path: inB });
  });

  it("looks along PATH again once the file found is gone or not executable any more", () => {
    const inB = tool(b);
    expect(resolveExecutableCached("tool", options())).toEqual({ path: inB });
    rmSync(inB);
    const inA = tool(a);
    expect(resolveExecutableCached("tool", options())).toEqual({ path: inA });
    chmodSync(inA, 0o644);
    const again = tool(b);
    expect(resolveExecutableCached("tool", options())).toEqual({ path: again });
    rmSync(again);
    expect(resolveExecutableCached("tool", options())).toMatchObject({ error: expect.stringContaining("is not executable") });
  });

  it("keys by PATH and cwd: another PATH is looked up on its own", () => {
    const inA = tool(a);
    const inB = tool(b);
    expect(resolveExecutableCached("tool", { cwd: dir, pathEnv: a })).toEqual({ path: inA });
    expect(resolveExecutableCached("tool", { cwd: dir, pathEnv: b })).toEqual({ path: inB });
  });
});
