import { defineConfig } from "vitest/config";

// `npm run test:image`: builds the container image and runs it as Kubernetes would (test/image/).
// Kept out of `npm test` (its files are not *.test.ts): it builds an image; .ci/run runs it as a leg.
export default defineConfig({
  test: {
    include: ["test/image/**/*.image.ts"],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    pool: "forks",
  },
});
