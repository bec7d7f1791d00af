// Test files that need a fresh worker of their own (vitest `isolate: true`), for one of two reasons:
// - they replace a module with vi.mock / vi.doMock or reset the module registry (in a shared
//   module graph another file may have imported the real module first);
// - they take heap snapshots (test/support/heap-objects.ts): a shared worker's heap holds every
//   earlier file's modules and garbage, so a snapshot took 40 s and outgrew V8's longest string.
// Every other file shares its worker's module graph (vitest.config.ts); test/unit/test-isolation.test.ts
// keeps both lists complete.
export const MODULE_SWAPPING_TEST_FILES: readonly string[] = [
  "test/hardening/bad-input.fuzz.test.ts",
  "test/e2e/grpc-direct-switch.e2e.test.ts",
];

export const HEAP_SNAPSHOT_TEST_FILES: readonly string[] = [
  "test/e2e/watch-direct-wire.e2e.test.ts",
  "test/hardening/watch-never-reading.test.ts",
];

export const ISOLATED_TEST_FILES: readonly string[] = [...MODULE_SWAPPING_TEST_FILES, ...HEAP_SNAPSHOT_TEST_FILES];
