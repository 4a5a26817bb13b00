import { describe, expect, it } from "vitest";
import { parseDeployment } from "../config/index.ts";
import { createPrefixer, expectedUnitIds } from "./prefix.ts";

describe("log prefixes", () => {
  it("are as wide as the longest known unit from the first line on, with ! for stderr", () => {
    const p = createPrefixer(["web", "workers-10"], false);
    expect(p.format("web")).toBe("web        |");
    expect(p.format("web", true)).toBe("web        !");
    expect(p.format("workers-10")).toBe("workers-10 |");
    expect(p.format("a-much-longer-one")).toBe("a-much-longer-one |");
    expect(p.format("web")).toBe("web               |");
  });
  it("give each unit its own colour, and the stderr mark red", () => {
    const p = createPrefixer(["a", "b"], true);
    expect(p.format("a")).toBe("\x1b[36ma\x1b[0m \x1b[36m|\x1b[0m");
    expect(p.format("b")).toBe("\x1b[35mb\x1b[0m \x1b[35m|\x1b[0m");
    expect(p.format("a", true)).toBe("\x1b[36ma\x1b[0m \x1b[31m!\x1b[0m");
  });
  it("know every pool replica before it logs", () => {
    const d = parseDeployment("units:\n  web:\n    command: sh\n  workers:\n    command: sh\n    replicas: 3\n", "hsu.yaml");
    expect(expectedUnitIds(d).sort()).toEqual(["web", "workers-0", "workers-1", "workers-2"]);
  });
});
