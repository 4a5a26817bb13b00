import { spawn } from "node:child_process";
import * as http2 from "node:http2";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listenH2c } from "./listen.ts";

describe("listenH2c", () => {
  it("answers a client that sends a socket path as :authority (as grpcio does) instead of failing", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "hsu-l-")), "a.sock");
    const listener = await listenH2c(`unix:${path}`, (req, res) => {
      // The compat layer builds the URL from :authority; this is what used to throw.
      res.end(new URL(req.url, `http://${req.authority}`).host);
    });
    const session = http2.connect("http://localhost", { createConnection: () => net.connect(path) });
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ":path": "/x", ":authority": encodeURIComponent(path) });
      let data = "";
      req.setEncoding("utf8").on("data", (d: string) => (data += d));
      req.on("end", () => resolve(data));
      req.on("error", reject);
      req.end();
    });
    session.close();
    await listener.close();
    expect(body).toBe("localhost");
  });

  it("replaces a stale socket, but never deletes a file, a directory or a symlink at the path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-l-"));
    const path = join(dir, "a.sock");
    // A process killed while listening leaves its socket file behind.
    const script = `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`;
    await new Promise((r) => spawn(process.execPath, ["-e", script], { stdio: "ignore" }).once("exit", r));
    expect(lstatSync(path).isSocket()).toBe(true);
    const listener = await listenH2c(`unix:${path}`, (_req, res) => res.end());
    expect(lstatSync(path).isSocket()).toBe(true);
    await listener.close();
    const precious = join(dir, "precious");
    writeFileSync(precious, "keep me");
    const cases: [string, () => void][] = [
      ["a regular file", () => writeFileSync(path, "keep me")],
      ["a directory", () => mkdirSync(path)],
      ["a symlink", () => symlinkSync(precious, path)],
    ];
    for (const [what, make] of cases) {
      rmSync(path, { recursive: true, force: true });
      make();
      await expect(listenH2c(`unix:${path}`, (_req, res) => res.end()), what).rejects.toMatchObject({ code: "EEXIST" });
      expect(lstatSync(path).isSocket(), what).toBe(false);
    }
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(readFileSync(precious, "utf8")).toBe("keep me");
    rmSync(dir, { recursive: true, force: true });
  });
});
