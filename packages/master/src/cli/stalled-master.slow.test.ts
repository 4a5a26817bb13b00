// A master that accepts connections and never answers: SIGSTOPped (or wedged).
// The kernel still accepts on its control socket, so only the CLI's own
// deadlines stop a command from waiting for ever. Every read command must end
// with a message that says what happened; nothing is left behind.
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { lockHolder } from "../daemon/lock.ts";
import { createProjects, hsu } from "../test-support/hsu-cli.ts";

const projects = createProjects("hsu-stalled-");
let dir: string;
let master: number;

beforeAll(async () => {
  dir = projects.make(`units:\n  napper:\n    command: sleep\n    args: ["1000"]\n`);
  const up = await hsu(dir, "up", "-d");
  expect(up.code, up.stderr).toBe(0);
  master = lockHolder(join(dir, ".hsu")).pid!;
  process.kill(master, "SIGSTOP");
});

afterAll(async () => {
  try {
    process.kill(master, "SIGCONT");
  } catch {
    // Gone already.
  }
  await hsu(dir, "down");
  projects.removeAll();
});

for (const args of [["ps"], ["ps", "napper"], ["logs", "napper"]]) {
  it(`hsu ${args.join(" ")} against a stopped master ends with a message, not a hang`, async () => {
    // The command's own deadlines are 5 s (the quick path) and 10 s (the read); 60 s is the test's backstop.
    const r = await hsu(dir, ...args);
    expect(r.stderr).not.toMatch(/killed by SIG/);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/did not answer in time.*SIGSTOP/);
  }, 90_000);
}
