import { afterEach, describe, expect, it } from "vitest";
import type { CredentialProvider } from "./ports.ts";
import { createSupervisor, type Supervisor } from "./supervisor.ts";
import { createLineSink } from "./test-support/line-sink.ts";

// The credential port with real processes: env reaches the child, release follows every run's end.
let supervisor: Supervisor | undefined;
afterEach(async () => {
  await supervisor?.shutdown();
  supervisor = undefined;
});

const echoEnv = { executable: "/bin/sh", args: ["-c", 'echo "got=$GRANTED"; exec sleep 30'], gracefulTimeoutMs: 500 };

describe("credential provider port", () => {
  it("adds the grant's env to each run and releases it once the process is gone, before the exit is reported", async () => {
    const log: string[] = [];
    let n = 0;
    const provider: CredentialProvider = async (unit, credentials) => {
      const i = ++n;
      log.push(`grant ${unit} ${i} ${JSON.stringify(credentials)}`);
      return { env: { GRANTED: `run-${i}` }, release: async () => void log.push(`release ${i}`) };
    };
    const sink = createLineSink();
    supervisor = createSupervisor({ logSink: sink, credentialProvider: provider });
    const unit = supervisor.unit((await supervisor.add({ id: "u", ...echoEnv, credentials: ["db"] })).id);
    await sink.waitForLine("u", (l) => l === "got=run-1");
    unit.onEvent((e) => e.type === "exit" && log.push("exit event"));
    await supervisor.restart("u");
    await sink.waitForLine("u", (l) => l === "got=run-2");
    expect(log).toEqual(['grant u 1 ["db"]', "release 1", "exit event", 'grant u 2 ["db"]']);
    await supervisor.stop("u");
    expect(log.slice(-2)).toEqual(["release 2", "exit event"]);
  });

  it("a provider that rejects fails the unit with its message, spawning nothing; a unit without credentials never asks", async () => {
    const asked: string[] = [];
    const provider: CredentialProvider = async (unit) => {
      asked.push(unit);
      throw new Error('secret "db" is not set: run `hsu secret set db`');
    };
    supervisor = createSupervisor({ credentialProvider: provider });
    await supervisor.add({ id: "plain", ...echoEnv });
    const s = await supervisor.add({ id: "needs", ...echoEnv, credentials: ["db"] });
    expect(s.pid).toBeUndefined();
    expect(s.state).toBe("failed");
    expect(s.lastExit?.reason).toContain('secret "db" is not set: run `hsu secret set db`');
    expect(asked).toEqual(["needs"]);
    expect(supervisor.get("plain").state).toBe("running");
  });

  it("without a provider, a unit with credentials does not start (its secrets would be missing), and says why", async () => {
    supervisor = createSupervisor();
    const s = await supervisor.add({ id: "needs", ...echoEnv, credentials: ["db"] });
    expect(s.state).toBe("failed");
    expect(s.lastExit?.reason).toContain("no credential provider");
  });
});
