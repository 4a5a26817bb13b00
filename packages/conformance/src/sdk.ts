import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cacheDir, repoRoot } from "./paths.ts";
import { runOk } from "./run.ts";

// What a TypeScript unit installs: @hsu/server and what it depends on.
const sdkPackages = ["proto", "transport", "server"];
let built: Promise<string> | undefined;

/**
 * Builds the SDK packages a TypeScript unit needs and packs them into
 * `.cache/sdk` (`pnpm pack`), once per process: the generator's `--sdk`
 * points a generated project at these tarballs until @hsu/* is on npm.
 */
export function buildSdkTarballs(): Promise<string> {
  built ??= (async () => {
    const out = cacheDir("sdk");
    for (const file of readdirSync(out)) rmSync(join(out, file), { force: true });
    for (const pkg of sdkPackages) {
      const dir = join(repoRoot, "packages", pkg);
      await runOk(`build and pack @hsu/${pkg}`, ["bash", join(repoRoot, "scripts", "build-and-pack.sh"), dir, out], { cwd: dir });
    }
    return out;
  })();
  return built;
}
