import { describe, expect, it } from "vitest";
import { HsuError } from "../errors.ts";
import { lifecycleEventTypes, transition, unitStates, type UnitState } from "./lifecycle.ts";

// The expected table, written out independently of lifecycle.ts:
// "next:effect,effect" for legal pairs, "-" for illegal ones.
// Columns follow this event order:
const events = [
  "start", "spawned", "spawn_failed", "ready", "unhealthy", "stop", "restart", "kill",
  "exit", "schedule_restart", "backoff_elapsed", "breaker_open", "retries_exhausted", "reset",
] as const;

const expected: Record<UnitState, string[]> = {
  //          start                              spawned    spawn_failed ready    unhealthy             stop                   restart                          kill                 exit                 schedule_restart backoff_elapsed  breaker_open retries_exhausted reset
  stopped:    ["starting:spawn",                 "-",       "-",         "-",     "-",                  "stopped:",            "starting:spawn",                "-",                 "-",                 "-",             "-",             "-",         "-",              "stopped:reset_counters"],
  starting:   ["starting:",                      "running:", "exited:",  "-",     "-",                  "stopping:terminate",  "restarting:terminate",          "killing:kill",      "exited:",           "-",             "-",             "-",         "-",              "-"],
  running:    ["running:",                       "-",       "-",         "ready:", "killing:terminate", "stopping:terminate",  "restarting:terminate",          "killing:kill",      "exited:",           "-",             "-",             "-",         "-",              "-"],
  ready:      ["ready:",                         "-",       "-",         "ready:", "killing:terminate", "stopping:terminate",  "restarting:terminate",          "killing:kill",      "exited:",           "-",             "-",             "-",         "-",              "-"],
  stopping:   ["restarting:",                    "-",       "-",         "-",     "-",                  "stopping:",           "restarting:",                   "stopping:kill",     "stopped:",          "-",             "-",             "-",         "-",              "-"],
  restarting: ["restarting:",                    "-",       "-",         "-",     "-",                  "stopping:",           "restarting:",                   "restarting:kill",   "starting:spawn",    "-",             "-",             "-",         "-",              "-"],
  killing:    ["restarting:",                    "-",       "-",         "-",     "-",                  "stopping:",           "restarting:",                   "killing:kill",      "exited:",           "-",             "-",             "-",         "-",              "-"],
  backoff:    ["starting:cancel_backoff,spawn",  "-",       "-",         "-",     "-",                  "stopped:cancel_backoff", "starting:cancel_backoff,spawn", "-",                "-",                 "-",             "starting:spawn", "-",        "-",              "stopped:cancel_backoff,reset_counters"],
  exited:     ["starting:spawn",                 "-",       "-",         "-",     "-",                  "stopped:",            "starting:spawn",                "-",                 "-",                 "backoff:",      "-",             "failed:",   "failed:",        "stopped:reset_counters"],
  failed:     ["starting:reset_counters,spawn",  "-",       "-",         "-",     "-",                  "stopped:",            "starting:reset_counters,spawn", "-",                 "-",                 "-",             "-",             "-",         "-",              "stopped:reset_counters"],
};

describe("lifecycle transition table", () => {
  it("covers exactly the declared states and events", () => {
    expect([...unitStates].sort()).toEqual(Object.keys(expected).sort());
    expect([...lifecycleEventTypes]).toEqual([...events]);
  });

  for (const state of unitStates) {
    for (const [i, event] of events.entries()) {
      const want = expected[state][i]!;
      it(`${state} x ${event} -> ${want}`, () => {
        if (want === "-") {
          let caught: unknown;
          try {
            transition(state, event, "u1");
          } catch (err) {
            caught = err;
          }
          expect(HsuError.is(caught, "illegal_transition")).toBe(true);
          expect((caught as Error).message).toContain(`unit "u1"`);
          expect((caught as Error).message).toContain(event);
          return;
        }
        const [next, effects] = want.split(":") as [string, string];
        const got = transition(state, event);
        expect(got.state).toBe(next);
        expect(got.effects.join(",")).toBe(effects);
      });
    }
  }
});
