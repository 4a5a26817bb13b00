import { describe, expect, it } from "vitest";
import { openFileLimit, parseOpenFileLimit, tcpControlLimits } from "./fd-budget.ts";

const limits = (soft: string) => `Limit                     Soft Limit           Hard Limit           Units
Max processes             96364                96364                processes
Max open files            ${soft.padEnd(20)} 1048576              files
`;

describe("the TCP control port's fd budget", () => {
  it("reads the soft open-files limit", () => {
    expect(parseOpenFileLimit(limits("1024"))).toBe(1024);
    expect(parseOpenFileLimit(limits("unlimited"))).toBeUndefined();
    expect(parseOpenFileLimit("garbage")).toBeUndefined();
    expect(openFileLimit()).toBeGreaterThan(0); // this process, from the real /proc
  });

  it("gives TCP at most a quarter of the fds, one peer a quarter of that", () => {
    expect(tcpControlLimits(1024)).toMatchObject({ maxConnections: 256, maxPerPeer: 64 });
    expect(tcpControlLimits(65536)).toMatchObject({ maxConnections: 4096, maxPerPeer: 1024 });
    // A tiny limit still leaves a few connections, never zero.
    expect(tcpControlLimits(16)).toMatchObject({ maxConnections: 8, maxPerPeer: 4 });
    // Unknown limit: sized for the common default of 1024.
    expect(tcpControlLimits(undefined).maxConnections).toBeLessThanOrEqual(256);
  });
});
