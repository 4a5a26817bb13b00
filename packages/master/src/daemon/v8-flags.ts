/**
 * Node/V8 flags the background master (`hsu up -d` re-spawning the CLI as
 * `daemon`) is started with: the one place they are named. Measured with
 * bench/master/ab.ts on 100 idle `sleep` units (bench/notes/mem.md):
 *
 * - `--max-semi-space-size=2` caps V8's young generation at 2 MiB per
 *   semi-space. Left alone, a master that allocates steadily (RPCs, timers,
 *   log lines) grows it to its maximum (64 MiB reserved on 64-bit Node 24)
 *   and keeps it committed: about 28 MiB of the daemon's RSS. 1 MiB measured
 *   the same RSS with more scavenges.
 * - Not `--no-opt --no-maglev`: keeping V8's optimising compilers out saves
 *   about 9-14 MiB more at idle, but the master then spends 1.6-1.7x the CPU
 *   on a log flood (3,000,000 lines, 197 MB from one unit: 20.8-21.2 s of
 *   daemon CPU without them, 12.3-13.6 s with them, two rounds each,
 *   alternated; bench/notes/mem.md). An edge box pays that CPU every time a
 *   unit is chatty; the memory is paid once.
 *
 * A single executable has them built in (its SEA config's execArgv). Elsewhere
 * they go before the CLI's own execArgv, so a flag given to the CLI's node
 * (`node --max-semi-space-size=16 $(which hsu) up -d`) overrides ours.
 * V8 sizes the heap and picks its compilers when the process starts
 * (`v8.setFlagsFromString` later does not shrink the young generation): a
 * foreground `hsu up` runs with whatever its node was started with
 * (`node --max-semi-space-size=2 "$(command -v hsu)" up`, or
 * `NODE_OPTIONS=--max-semi-space-size=2`).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2"];
