/** npm run bench:client: the client library's cases alone (see run-client.ts); JSON on the last line. */
import { buildBench } from "../lib/build.js";
import { writeResult } from "../lib/results.js";
import { runClientBench } from "./run-client.js";

const cases = new Set((process.env.BENCH_CASES ?? "client_cached,propagation").split(","));
// BENCH_SKIP_BUILD=1: run what dist/bench holds (an old build, for before/after runs).
if (process.env.BENCH_RUNTIME !== "tsx" && process.env.BENCH_SKIP_BUILD !== "1") buildBench();
runClientBench(cases, Number(process.env.BENCH_ROUNDS ?? 5)).then(
  (out) => {
    process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
    writeResult("bench-client", out);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
