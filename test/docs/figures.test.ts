import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { applyFigures, FIGURE_DOCS, loadResults, renderFigures } from "../../bench/lib/figures.js";
import { repoRoot, writeResult } from "../../bench/lib/results.js";

/**
 * Issue 14, item 7: every benchmark figure the documentation quotes comes from a kept run output
 * (bench/results/*.json), rendered into marked blocks by `npm run bench:report`. A figure typed
 * by hand into a block, a block left stale after a new run, or a throughput/CPU ratio written
 * outside the blocks fails here.
 */
const read = (rel: string) => readFileSync(join(repoRoot, rel), "utf8");
const EXPECTED_BLOCKS: Record<string, string[]> = {
  "BENCHMARKS.md": ["bench", "micro", "scale", "soak"],
  "docs/performance.md": ["summary"],
  "docs/security.md": ["soak"],
};
const blockRe = /<!-- figures:(\w+) -->\n[\s\S]*?<!-- \/figures:\1 -->/g;

describe("documented figures come from bench/results", () => {
  const blocks = renderFigures(loadResults(join(repoRoot, "bench", "results")));

  it.each(FIGURE_DOCS)("%s: every figures block equals what the kept run outputs give", (rel) => {
    const doc = read(rel);
    expect([...doc.matchAll(blockRe)].map((m) => m[1])).toEqual(EXPECTED_BLOCKS[rel]);
    expect(applyFigures(doc, blocks)).toBe(doc);
  });

  it.each(FIGURE_DOCS)(
    "%s: no measured CPU/throughput ratio outside the generated blocks (targets, written <= / >=, are fine)",
    (rel) => {
      const outside = read(rel).replace(blockRe, "");
      expect(outside.match(/(?<![<>]=\s?)\b\d+\.\d+ ?x\b/g) ?? []).toEqual([]);
    },
  );
});

describe("bench output is kept", () => {
  const saved = { dir: process.env.BENCH_RESULTS_DIR, name: process.env.BENCH_RESULT_NAME };
  afterEach(() => {
    for (const [k, v] of [
      ["BENCH_RESULTS_DIR", saved.dir],
      ["BENCH_RESULT_NAME", saved.name],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it("writeResult keeps the command, knobs, commit, machine and figures; the report quotes the newest file per tool", () => {
    const dir = mkdtempSync(join(tmpdir(), "wf-results-"));
    process.env.BENCH_RESULTS_DIR = dir;
    process.env.BENCH_RESULT_NAME = "soak-old";
    const soak = (calls: number) => ({
      seconds: 60,
      calls,
      callsPerSecond: calls / 60,
      errors: 0,
      rssMiB: { start: 100, end: 200 },
      issued: { keys: 5, sessions: 6 },
      p99MsByWindow: [20, 30],
    });
    const path = writeResult("soak", soak(60_000));
    expect(path).toBe(join(dir, "soak-old.json"));
    const doc = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    expect(doc).toMatchObject({
      tool: "soak",
      name: "soak-old",
      env: { BENCH_RESULT_NAME: "soak-old" },
      result: soak(60_000),
    });
    expect(doc.git).toHaveProperty("commit");
    expect(doc.machine).toHaveProperty("cpus");
    // A newer run of the same tool is the one quoted.
    const older = loadResults(dir).get("soak")!;
    process.env.BENCH_RESULT_NAME = "soak-new";
    writeResult("soak", soak(123_456));
    const newer = loadResults(dir).get("soak")!;
    expect(newer.started_at >= older.started_at).toBe(true);
    const text = renderFigures(loadResults(dir)).soak!;
    expect(text).toContain("123,456 calls");
    expect(text).toContain("bench/results/soak-new.json"); // the figures and the file named are the same run
  });

  it("refuses a result name that could escape the folder", () => {
    process.env.BENCH_RESULTS_DIR = mkdtempSync(join(tmpdir(), "wf-results-"));
    process.env.BENCH_RESULT_NAME = "../../etc/x";
    expect(() => writeResult("bench", {})).toThrow(/BENCH_RESULT_NAME/);
  });
});
