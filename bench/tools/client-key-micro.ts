/**
 * The client's cache key in one process: SHA-256 of 20,300 tokens with `crypto.hash` in three output
 * encodings (base64url, the server's stored form; latin1 "binary", 32 one-byte chars; utf16le, 16
 * two-byte chars), alone and followed by an lru-cache get (100,000 max, entries filled in a loop
 * with garbage between them), alternated rounds, CPU µs per call: median (min-max).
 * Run (tsc build): npx tsc -p bench/tsconfig.json && node dist/bench/bench/tools/client-key-micro.js
 */
import { hash } from "node:crypto";
import { LRUCache } from "lru-cache";
import { generateToken } from "../../src/domain/token-format.js";

type Enc = "base64url" | "binary" | "hex"; // utf16le passes at run time (see src/client/cache-key.ts)
const encodings = ["base64url", "binary", "utf16le"] as Enc[];
const tokens = Array.from({ length: 20_300 }, () => generateToken("api_key", "fill"));
const N = Number(process.env.MICRO_CALLS ?? 1_000_000);
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 8);
const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const junk: object[] = [];
const caches = new Map<Enc, LRUCache<string, object>>();
for (const enc of encodings) {
  const lru = new LRUCache<string, object>({ max: 100_000, dispose: () => {} });
  for (const t of tokens) {
    lru.set(hash("sha256", t, enc), { t: 1 });
    for (let j = 0; j < 30; j++) junk.push({ j });
    if (junk.length > 10_000) junk.length = 0;
  }
  caches.set(enc, lru);
}
const variants: [string, (t: string) => unknown][] = encodings.flatMap((enc): [string, (t: string) => unknown][] => [
  [`${enc} hash`, (t) => hash("sha256", t, enc)],
  [`${enc} hash + lru get`, (t) => caches.get(enc)!.get(hash("sha256", t, enc))],
]);
const out = new Map<string, number[]>();
let sink = 0;
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, f] of r % 2 ? variants : [...variants].reverse()) {
    const c0 = cpuUs();
    for (let i = 0; i < N; i++) if (f(tokens[i % tokens.length]!)) sink++;
    const us = (cpuUs() - c0) / N;
    if (!out.has(name)) out.set(name, []);
    out.get(name)!.push(us);
  }
}
if (sink !== ROUNDS * variants.length * N) throw new Error("a lookup missed");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;
for (const [name, xs] of out)
  console.log(
    `${name.padEnd(26)} ${median(xs).toFixed(3)} (${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}) µs`,
  );
