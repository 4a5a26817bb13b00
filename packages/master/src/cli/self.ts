// How this `hsu` runs itself again (`hsu up -d` starts its daemon so): the
// one place that knows the four shapes the CLI ships in.
import { isSea } from "node:sea";
import { fileURLToPath } from "node:url";

/** What scripts/bundle.ts builds in (esbuild `define`); absent when run from source or dist. */
declare const HSU_BUNDLE: { entry: string; version: string } | undefined;

/** The bundle this code was built into: its entry file (beside every chunk) and the package version. */
export const bundled: { entry: string; version: string } | undefined = typeof HSU_BUNDLE === "undefined" ? undefined : HSU_BUNDLE;

/**
 * The command and leading arguments that run this CLI again, to which the
 * caller appends the subcommand: a single executable is its own binary and
 * takes no script; a bundle, dist or source run Node on their entry file,
 * with `nodeFlags` and this process's Node flags.
 */
export function selfCommand(nodeFlags: readonly string[] = []): { command: string; args: string[] } {
  // A single executable takes every argument as its own: it runs with the Node flags built into it (scripts/bundle.ts).
  if (isSea()) return { command: process.execPath, args: [] };
  const entry = bundled ? `./${bundled.entry}` : import.meta.url.endsWith(".ts") ? "./bin.ts" : "./bin.js";
  // This process's own Node flags come after `nodeFlags`, so a flag given to the CLI's node wins.
  return { command: process.execPath, args: [...nodeFlags, ...process.execArgv, fileURLToPath(new URL(entry, import.meta.url))] };
}
