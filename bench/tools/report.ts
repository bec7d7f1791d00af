/**
 * Renders the documentation's quoted figures from the kept run outputs (bench/results/*.json) into
 * the marked blocks of BENCHMARKS.md, docs/performance.md and docs/security.md.
 *   npm run bench:report            rewrite the blocks
 *   npm run bench:report -- --check exit 1 if a block differs from what the files give
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyFigures, FIGURE_DOCS, loadResults, renderFigures } from "../lib/figures.js";
import { repoRoot, resultsDir } from "../lib/results.js";

const check = process.argv.includes("--check");
const blocks = renderFigures(loadResults(resultsDir()));
let stale = 0;
for (const rel of FIGURE_DOCS) {
  const path = join(repoRoot, rel);
  const before = readFileSync(path, "utf8");
  const after = applyFigures(before, blocks);
  if (after === before) continue;
  if (check) {
    stale++;
    console.error(`${rel}: figures differ from bench/results (run npm run bench:report)`);
  } else {
    writeFileSync(path, after);
    console.log(`${rel}: figures updated`);
  }
}
process.exit(stale ? 1 : 0);
