import { describe, expect, it } from "vitest";
import { HsuError } from "../errors.ts";
import { integratedInputs, integratedStates, transition, type IntegratedInput, type IntegratedState } from "./lifecycle.ts";

// The expected table, written out independently of the implementation's.
const legal: Record<string, IntegratedState> = {
  "stopped/wake": "starting",
  "stopped/close": "closed",
  "starting/ready": "running",
  "starting/fail": "stopped",
  "running/idle": "stopping",
  "running/stop": "stopping",
  "running/exit": "stopped",
  "stopping/exit": "stopped",
};

describe("integrated unit lifecycle table", () => {
  const pairs = integratedStates.flatMap((s) => integratedInputs.map((i) => [s, i] as [IntegratedState, IntegratedInput]));

  it("covers 5 states x 7 inputs", () => {
    expect(pairs).toHaveLength(35);
  });

  it.each(pairs)("%s + %s", (state, input) => {
    const expected = legal[`${state}/${input}`];
    if (expected) {
      expect(transition(state, input, "u1")).toBe(expected);
    } else {
      let thrown: unknown;
      try {
        transition(state, input, "u1");
      } catch (e) {
        thrown = e;
      }
      expect(HsuError.is(thrown, "illegal_transition")).toBe(true);
      expect((thrown as Error).message).toContain(`unit "u1": "${input}" cannot happen while the unit is ${state}`);
    }
  });
});
