import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { GeneratorError } from "./errors.ts";

/** The HSU npm packages every generated project may depend on, by short name. */
export const sdkPackages = ["proto", "transport", "server", "client"] as const;

/** npm dependency specs of the HSU packages: `npm.server` etc., plus overrides for tarball installs. */
export interface NpmSpecs {
  /** Spec per short name (`server` -> `0.1.0` or `file:/abs/hsu-server-0.1.0.tgz`). */
  npm: Record<string, string>;
  /**
   * With an SDK dir, every HSU tarball as an npm override, so the SDK's
   * own inter-package dependencies (not on the registry yet) resolve to
   * the tarballs too. Empty for published versions.
   */
  npmOverrides: { name: string; spec: string }[];
}

/**
 * The npm dependency spec of each HSU package. Without `sdkDir` that is the
 * published version; with it (`--sdk` or HSU_SDK_DIR: a directory of
 * `pnpm pack` tarballs such as `hsu-server-0.1.0.tgz`) a `file:` spec, so a
 * project builds against unpublished SDK code.
 */
export function npmSpecs(version: string, sdkDir: string | undefined): NpmSpecs {
  const npm: Record<string, string> = {};
  if (sdkDir === undefined) {
    for (const pkg of sdkPackages) npm[pkg] = version;
    return { npm, npmOverrides: [] };
  }
  const dir = resolve(sdkDir);
  if (!existsSync(dir)) {
    throw new GeneratorError("usage", `--sdk ${sdkDir}: directory not found. Make it with \`pnpm pack --pack-destination ${dir}\` in each packages/* of the HSU repo.`);
  }
  const tarballs = readdirSync(dir).filter((e) => /^hsu-[a-z0-9-]+-\d[^/]*\.tgz$/.test(e)).sort();
  for (const tarball of tarballs) {
    const short = tarball.replace(/^hsu-/, "").replace(/-\d.*$/, "");
    npm[short] = `file:${join(dir, tarball)}`;
  }
  for (const required of ["proto", "server"]) {
    if (npm[required] === undefined) {
      throw new GeneratorError("usage", `--sdk ${sdkDir}: no hsu-${required}-*.tgz in ${dir}. Run \`pnpm pack --pack-destination ${dir}\` in packages/${required}.`);
    }
  }
  const npmOverrides = Object.entries(npm).map(([short, spec]) => ({ name: `@hsu/${short}`, spec }));
  return { npm, npmOverrides };
}
