import { describe, expect, it } from "vitest";
import { commands } from "./commands.ts";
import { commandHelp, unknownCommand, usage } from "./help.ts";
import { describeEvent, progressText } from "./up.ts";

describe("help", () => {
  it("lists every public command, and hides the internal one", () => {
    const text = usage(commands);
    for (const name of ["up", "ps", "logs", "start", "stop", "restart", "scale", "apply", "down", "validate", "schema"]) expect(text).toMatch(new RegExp(`^  ${name}\\b`, "m"));
    expect(text).not.toContain("daemon");
  });
  it("documents every option of every command", () => {
    for (const [name, command] of Object.entries(commands)) {
      const text = commandHelp(name, command);
      expect(text).toMatch(new RegExp(`^Usage: hsu ${name}`));
      for (const option of [...Object.keys(command.options ?? {}), "help"]) {
        const line = text.split("\n").find((l) => /^\s+-/.test(l) && l.includes(`--${option}`));
        expect(line, `${name} --${option}`).toMatch(new RegExp(`--${option}\\S*( [A-Z|:]+)?\\s{2,}\\w`));
      }
    }
  });
  it("suggests a command for a typo", () => {
    expect(unknownCommand("sacle", commands)).toContain("Did you mean `hsu scale`?");
    expect(unknownCommand("deploy", commands)).not.toContain("Did you mean");
  });
});

describe("hsu up progress", () => {
  it("counts units that are up among those that start now", () => {
    expect(progressText([{ state: "running" }, { state: "starting" }, { state: "stopped" }, { state: "idle" }, { state: "scheduled" }])).toBe("starting units: 1 of 3 up, 1 starting");
  });
  it("describes an event in one line, without the ISO time of a cron run", () => {
    const base = { time: 0, restarts: 0 };
    expect(describeEvent({ ...base, unit: "flaky", from: "running", to: "exited", reason: "pid 7 ended with exit code 1" }, false)).toBe("flaky running -> exited: pid 7 ended with exit code 1");
    expect(describeEvent({ ...base, unit: "tick", from: "scheduled", to: "scheduled", reason: "run due 2026-11-26T12:08:20.000Z: succeeded (exit 0)" }, false)).toBe(
      "tick scheduled: run succeeded (exit 0)",
    );
  });
});
