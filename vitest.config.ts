import { defineConfig } from "vitest/config";

// One run over every package. "fast" is the default project; suites that
// build other languages or start many processes are tagged by living in
// *.slow.test.ts files and run in the "slow" project.
const conditions = ["@hsu/source", "node", "import", "default"];
export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@hsu/source"] } },
  test: {
    // Most tests wait on child processes, not the CPU: three files at a time keep two cores busy.
    maxWorkers: 3,
    projects: [
      {
        extends: true,
        test: {
          name: "fast",
          include: ["packages/*/src/**/*.test.ts", "examples/*/src/**/*.test.ts", "scripts/*.test.ts", "bench/*/*.test.ts"],
          exclude: ["**/*.slow.test.ts", "**/node_modules/**"],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: "slow",
          include: ["packages/*/src/**/*.slow.test.ts", "examples/*/src/**/*.slow.test.ts", "scripts/*.slow.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
