// The summary parser on connectconformance v1.0.7's real output (testdata/,
// captured from real runs: see testdata/README.md), and a run whose program
// under test is not there, and stand-in runners that misbehave.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSummary, runConformance, runnerArgs, selectRuns } from "./suite.ts";
import { runs } from "./runs.ts";

const testdata = (name: string) => readFileSync(join(import.meta.dirname, "../testdata", name), "utf8");

describe("parseSummary", () => {
  it("reads a clean run (verbose)", () => {
    const s = parseSummary(testdata("runner-pass-verbose.txt"));
    expect(s).toEqual({ total: 801, passed: 801, failed: 0, notRun: 0, knownFailed: 0, failures: [] });
  });

  it("names each failure, a known failure that passed, and counts the expected failures", () => {
    const s = parseSummary(testdata("runner-mixed.txt"))!;
    expect(s).toMatchObject({ total: 14, passed: 7, failed: 6, notRun: 0, knownFailed: 1 });
    expect(s.failures.map((f) => f.name)).toEqual([
      "Basic/HTTPVersion:2/Protocol:PROTOCOL_CONNECT/Codec:CODEC_JSON/Compression:COMPRESSION_BR/TLS:false/unary/success",
      "Basic/HTTPVersion:2/Protocol:PROTOCOL_CONNECT/Codec:CODEC_JSON/Compression:COMPRESSION_IDENTITY/TLS:false/unary/success",
      "Basic/HTTPVersion:2/Protocol:PROTOCOL_GRPC/Codec:CODEC_JSON/Compression:COMPRESSION_BR/TLS:false/unary/success",
      "Basic/HTTPVersion:2/Protocol:PROTOCOL_GRPC/Codec:CODEC_JSON/Compression:COMPRESSION_GZIP/TLS:false/unary/success",
      "Basic/HTTPVersion:2/Protocol:PROTOCOL_GRPC/Codec:CODEC_JSON/Compression:COMPRESSION_IDENTITY/TLS:false/unary/success",
      "Basic/HTTPVersion:2/Protocol:PROTOCOL_GRPC/Codec:CODEC_PROTO/Compression:COMPRESSION_IDENTITY/TLS:false/unary/success",
    ]);
    expect(s.failures[0]!.detail).toContain('message:"cannot encode message google.protobuf.Any to JSON');
    expect(s.failures[0]!.detail).toContain("expecting 1 response messages but instead got 0");
    // The INFO block's indented lines belong to no failure.
    expect(s.failures[1]!.detail.split("\n")).toHaveLength(3);
    expect(s.failures[5]!.detail).toContain("known-failures file lists it");
  });

  it("counts the cases a program under test never ran", () => {
    const s = parseSummary(testdata("runner-client-missing.txt"))!;
    expect(s).toMatchObject({ total: 217, passed: 0, failed: 87, notRun: 130, knownFailed: 0 });
    expect(s.failures).toHaveLength(87);
    expect(s.failures[0]).toEqual({
      name: "Basic/HTTPVersion:2/Protocol:PROTOCOL_GRPC/Codec:CODEC_PROTO/Compression:COMPRESSION_IDENTITY/TLS:false/(grpc server impl)/bidi-stream/full-duplex/success",
      detail: "failed to get result from client: no outcome ever received",
    });
  });

  it("finds no summary in output cut off before it, or in garbage", () => {
    const full = testdata("runner-mixed.txt");
    expect(parseSummary(full.slice(0, full.indexOf("Total cases:")))).toBeUndefined();
    expect(parseSummary(full.slice(0, full.indexOf("\n7 passed")))).toBeUndefined();
    expect(parseSummary("")).toBeUndefined();
    expect(parseSummary("FAILED: x:\n\tboom\n")).toBeUndefined();
  });
});

describe("runConformance", () => {
  it("reports a run whose program under test does not exist as failed, naming the file, without starting the runner", async () => {
    const run = { ...runs[0]!, name: "missing program", command: [process.execPath, "/nonexistent/client-under-test.ts", "--fast-unary=on"] };
    const result = await runConformance(run, { runner: "/nonexistent/connectconformance" });
    expect(result.passed).toBe(0);
    expect(result.failed).toBe(1);
    expect(result.failures[0]!.detail).toContain("/nonexistent/client-under-test.ts does not exist");
  });

  it("reports a runner that cannot start as failed", async () => {
    const result = await runConformance(runs[0]!, { runner: "/nonexistent/connectconformance" });
    expect(result.failed).toBe(1);
    expect(result.failures[0]!.detail).toContain("could not start /nonexistent/connectconformance");
  });
});

describe("runConformance with a stand-in runner", () => {
  const dir = mkdtempSync(join(tmpdir(), "rpc-conformance-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const runner = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  const gone = (pid: number) => {
    if (!existsSync(`/proc/${pid}`)) return true;
    try {
      return /^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      return true;
    }
  };

  it("counts the cases that could not run, beside the named failures", async () => {
    const fixture = join(import.meta.dirname, "../testdata/runner-client-missing.txt");
    const result = await runConformance(runs[0]!, { runner: runner("missing.sh", `cat '${fixture}'; exit 1`) });
    expect(result.passed).toBe(0);
    expect(result.failed).toBe(217);
    expect(result.failures).toHaveLength(88);
    expect(result.failures[87]!.name).toBe("(130 more)");
  });

  it("fails a run whose runner exits non-zero with a clean summary", async () => {
    const result = await runConformance(runs[0]!, { runner: runner("odd.sh", `printf 'Total cases: 3\\n3 passed, 0 failed\\n'; echo boom >&2; exit 1`) });
    expect(result).toMatchObject({ passed: 3, failed: 1 });
    expect(result.failures[0]!.detail).toMatch(/exited 1:\nboom/);
  });

  it("fails a run whose runner prints no summary", async () => {
    const result = await runConformance(runs[0]!, { runner: runner("dies.sh", "echo 'panic: something' >&2; exit 2") });
    expect(result).toMatchObject({ passed: 0, failed: 1 });
    expect(result.failures[0]!.detail).toMatch(/printed no summary \(exit 2\):\npanic: something/);
  });

  it("kills a runner that hangs past the deadline, and every process it started", async () => {
    const pidFile = join(dir, "child.pid");
    const hang = runner("hang.sh", `sleep 300 & echo $! > '${pidFile}'; echo started; wait`);
    const result = await runConformance(runs[0]!, { runner: hang, deadlineMs: 2_000 });
    expect(result).toMatchObject({ passed: 0, failed: 1 });
    expect(result.failures[0]!.detail).toMatch(/killed after the 2 s deadline; its last output:\nstarted/);
    expect(gone(Number(readFileSync(pidFile, "utf8")))).toBe(true);
  });
});

describe("the runs", () => {
  it("pass each run's config, known failures and program to the runner", () => {
    const run = selectRuns("server")[0]!;
    expect(runnerArgs(run)).toEqual(["--mode", "server", "--conf", run.config, "--known-failing", `@${run.knownFailing}`, "--", ...run.command]);
    expect(selectRuns("all")).toHaveLength(4);
    expect(selectRuns("client").every((r) => r.mode === "client")).toBe(true);
    expect(() => selectRuns("both")).toThrow(/server, client or all/);
  });
});
