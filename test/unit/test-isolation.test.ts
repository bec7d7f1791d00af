// The suite shares module graphs between files (vitest.config.ts, isolate: false). A file that
// swaps a module (vi.mock, vi.doMock, vi.resetModules) would silently test the real module when
// another file imported it first in the same worker: such files must be listed as isolated.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { HEAP_SNAPSHOT_TEST_FILES, MODULE_SWAPPING_TEST_FILES } from "../support/isolated-files.js";

const root = join(import.meta.dirname, "..", "..");
const testFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith(".test.ts") ? [join(dir, e.name)] : [],
  );
const swapsModules = /\bvi\.(mock|doMock|unmock|doUnmock|resetModules)\s*\(/;
const takesHeapSnapshots = /\bwriteHeapSnapshot\b|support\/heap-objects\.js/;

describe("test isolation", () => {
  it("runs every file that swaps a module in the isolated project, and lists only files that exist", () => {
    const files = testFiles(join(root, "test")).map((f) => relative(root, f));
    const swapping = files.filter((f) => swapsModules.test(readFileSync(join(root, f), "utf8")));
    expect(swapping.length).toBeGreaterThan(0); // the scan sees the known one
    expect([...MODULE_SWAPPING_TEST_FILES].sort()).toEqual(swapping.sort());
  });

  it("runs every file that takes heap snapshots in the isolated project (a shared worker's heap is every earlier file's)", () => {
    const files = testFiles(join(root, "test")).map((f) => relative(root, f));
    const snapshotting = files.filter((f) => takesHeapSnapshots.test(readFileSync(join(root, f), "utf8")));
    expect(snapshotting.length).toBeGreaterThan(0);
    expect([...HEAP_SNAPSHOT_TEST_FILES].sort()).toEqual(snapshotting.sort());
  });
});
