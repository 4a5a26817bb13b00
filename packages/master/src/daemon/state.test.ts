import { UnitState as WireState } from "@hsu/proto";
import { describe, expect, it } from "vitest";
import { isUnitState, stateFromWire, unitStates, wireState } from "./state.ts";

describe("unit states, typed end to end", () => {
  it("maps every state to its own wire value and back, and every wire value to a state", () => {
    const wire = unitStates.map(wireState);
    expect(new Set(wire).size).toBe(unitStates.length);
    expect(wire).not.toContain(WireState.UNSPECIFIED);
    for (const s of unitStates) expect(stateFromWire(wireState(s), "")).toBe(s);
    // The proto enum and the TS list are the same set: a value added to one must be added to the other.
    const protoValues = Object.values(WireState).filter((v): v is WireState => typeof v === "number" && v !== WireState.UNSPECIFIED);
    expect([...protoValues].sort((a, b) => a - b)).toEqual([...wire].sort((a, b) => a - b));
    // The wire enum's names are the states, upper-cased.
    for (const s of unitStates) expect(WireState[wireState(s)]).toBe(s.toUpperCase());
  });

  it("reads an older master's text state, and refuses what is no state", () => {
    expect(stateFromWire(WireState.UNSPECIFIED, "backoff")).toBe("backoff");
    expect(stateFromWire(WireState.UNSPECIFIED, "weird")).toBeUndefined();
    expect(wireState("weird")).toBe(WireState.UNSPECIFIED);
    expect(isUnitState("idle")).toBe(true);
    expect(isUnitState("succeeded")).toBe(false);
  });
});
