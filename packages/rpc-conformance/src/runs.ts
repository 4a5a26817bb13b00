// The conformance runs CI makes: HSU's unit server and unit transport, each
// with the unary fast path on and off, against the runner's reference peers.
// Each run's config lists exactly what that side claims to support; its
// known-failures file lists the cases allowed to fail (one test-case name or
// pattern per line, as connectconformance's --known-failing takes them).
import { join } from "node:path";

const here = join(import.meta.dirname, "..");

export interface ConformanceRun {
  /** Shown in the summary, e.g. "server, fast path on". */
  readonly name: string;
  /** connectconformance --mode. */
  readonly mode: "server" | "client";
  /** connectconformance --conf. */
  readonly config: string;
  /** connectconformance --known-failing (may be empty). */
  readonly knownFailing: string;
  /** The process under test, started by the runner (argv). */
  readonly command: readonly string[];
}

const node = process.execPath;
const server = join(here, "src/server-under-test.ts");
const client = join(here, "src/client-under-test.ts");

export const runs: readonly ConformanceRun[] = [
  {
    name: "server, fast path on",
    mode: "server",
    config: join(here, "config/server.yaml"),
    knownFailing: join(here, "known-failures/server-fast.txt"),
    command: [node, "--conditions=@hsu/source", server, "--fast-unary=on"],
  },
  {
    name: "server, fast path off",
    mode: "server",
    config: join(here, "config/server.yaml"),
    knownFailing: join(here, "known-failures/server-plain.txt"),
    command: [node, "--conditions=@hsu/source", server, "--fast-unary=off"],
  },
  {
    name: "client, fast path on",
    mode: "client",
    config: join(here, "config/client.yaml"),
    knownFailing: join(here, "known-failures/client-fast.txt"),
    command: [node, "--conditions=@hsu/source", client, "--fast-unary=on"],
  },
  {
    name: "client, fast path off",
    mode: "client",
    config: join(here, "config/client.yaml"),
    knownFailing: join(here, "known-failures/client-plain.txt"),
    command: [node, "--conditions=@hsu/source", client, "--fast-unary=off"],
  },
];
