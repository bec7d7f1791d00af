// Test files that need a fresh module graph of their own (vitest `isolate: true`): those that
// replace a module with vi.mock / vi.doMock or reset the module registry. Every other file shares
// its worker's module graph (vitest.config.ts); test/unit/test-isolation.test.ts keeps this list
// complete.
export const ISOLATED_TEST_FILES: readonly string[] = [
  "test/hardening/bad-input.fuzz.test.ts",
  "test/e2e/grpc-direct-switch.e2e.test.ts",
];
