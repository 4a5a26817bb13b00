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
 * - `--no-opt --no-maglev` keep V8's optimising compilers (TurboFan, Maglev)
 *   out: the master runs on the interpreter and the Sparkplug baseline code.
 *   Their compile memory and the pages of their own machine code cost the
 *   daemon about 14 MiB (RssFile -7, RssAnon -6); the master's hot paths are
 *   fork/exec and I/O, so idle CPU, start-all and stop-all stayed within the
 *   run-to-run noise.
 *
 * They go before the CLI's own execArgv, so a flag given to the CLI's node
 * (`node --max-semi-space-size=16 --opt $(which hsu) up -d`) overrides ours.
 * V8 sizes the heap and picks its compilers when the process starts
 * (`v8.setFlagsFromString` later does not shrink the young generation): a
 * foreground `hsu up` runs with whatever its node was started with
 * (`node --max-semi-space-size=2 --no-opt --no-maglev "$(command -v hsu)" up`;
 * Node refuses `--no-opt` in NODE_OPTIONS).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2", "--no-opt", "--no-maglev"];
