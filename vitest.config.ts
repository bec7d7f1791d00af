import { defineConfig } from "vitest/config";
import { ISOLATED_TEST_FILES } from "./test/support/isolated-files.js";

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
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
