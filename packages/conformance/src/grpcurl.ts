import { existsSync } from "node:fs";
import { join } from "node:path";
import { cacheDir, repoRoot } from "./paths.ts";
import { runOk } from "./run.ts";

/** The grpcurl release the suite lists reflection with (a stock gRPC client, not ours). */
export const grpcurlVersion = "v1.9.3";
let installed: Promise<string> | undefined;

/**
 * Installs grpcurl from the Go module proxy into `.cache/tools/` (once; the
 * binary is reused across runs) and returns its path.
 */
export function ensureGrpcurl(): Promise<string> {
  installed ??= (async () => {
    const bin = cacheDir("tools", `grpcurl-${grpcurlVersion}`);
    const exe = join(bin, "grpcurl");
    if (!existsSync(exe)) {
      await runOk("install grpcurl", ["go", "install", `github.com/fullstorydev/grpcurl/cmd/grpcurl@${grpcurlVersion}`], {
        cwd: repoRoot,
        env: { GOBIN: bin, GOFLAGS: "-mod=mod" },
      });
    }
    return exe;
  })();
  return installed;
}

/** `grpcurl list` against a unit address (`unix:/path` or `host:port`): the service names it reflects. */
export async function listServices(address: string): Promise<string[]> {
  const exe = await ensureGrpcurl();
  // grpcurl dials `unix:///abs/path` itself (its -unix flag goes through a TCP dialer in v1.9).
  const target = address.startsWith("unix:") ? [`unix://${address.replace(/^unix:(\/\/)?/, "")}`] : [address];
  const out = await runOk("grpcurl list", [exe, "-plaintext", "-max-time", "10", ...target, "list"], { cwd: repoRoot });
  return out.split("\n").map((l) => l.trim()).filter(Boolean).sort();
}
