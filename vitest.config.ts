import { defineConfig } from "vitest/config";
import { ISOLATED_TEST_FILES } from "./test/support/isolated-files.js";

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Two files at a time per run (vitest's default on 2 cores is 1): most files wait on servers,
    // child processes and timers, so one at a time left the cores idle (.ci/run ~8.5 -> ~6 min).
    // Session 32 tried it and saw one timing bound fail (faults.test.ts, since given the slack a
    // stall without the bound could never meet); session 33 ran the whole suite so at load 7-10.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        // Files share their worker's module graph (isolate: false): a fresh graph per file (Node
        // start, then grpc-js, the mongodb driver, connect... imported again) cost ~1.5-2.5 s of CPU
        // per file, a third of the suite's CPU. Tests keep their state in their own servers, stores
        // and registries; the few that replace a module run isolated (test/support/isolated-files.ts).
        test: { name: "shared", include: ["test/**/*.test.ts"], exclude: [...ISOLATED_TEST_FILES], isolate: false },
      },
      { extends: true, test: { name: "isolated", include: [...ISOLATED_TEST_FILES], isolate: true } },
    ],
  },
});
