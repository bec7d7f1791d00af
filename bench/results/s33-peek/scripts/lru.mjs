import * as crypto from "node:crypto";
import { LRUCache } from "lru-cache";
const h = crypto.hash;
const rnd = (n) => crypto.randomBytes(n).toString("base64url");
const tokens = Array.from({ length: 20_300 }, () => `wf_live_${rnd(4)}_${rnd(24)}`.slice(0, 46));
const N = 1_000_000;
const cpu = () => { const c = process.cpuUsage(); return c.user + c.system; };
const lru = new LRUCache({ max: 100_000, dispose: () => {} });
const map = new Map();
const junk = [];
for (const t of tokens) { const v = { a: 1, b: 2 }; lru.set(h("sha256", t, "latin1"), v); map.set(h("sha256", t, "latin1"), v); for (let j = 0; j < 30; j++) junk.push({ j }); if (junk.length > 10000) junk.length = 0; }
let sink = 0;
const res = {};
const OPTS = {};
const run = (name, f) => {
  const c0 = cpu();
  for (let i = 0; i < N; i++) if (f(tokens[i % tokens.length])) sink++;
  (res[name] ??= []).push((cpu() - c0) / N);
};
const vs = [
  ["hash", (t) => h("sha256", t, "latin1")],
  ["lru.get", (t) => lru.get(h("sha256", t, "latin1"))],
  ["lru.get(OPTS)", (t) => lru.get(h("sha256", t, "latin1"), OPTS)],
  ["lru.peek", (t) => lru.peek(h("sha256", t, "latin1"))],
  ["map.get", (t) => map.get(h("sha256", t, "latin1"))],
];
for (let r = 0; r < 7; r++) for (const [n, f] of (r % 2 ? vs : [...vs].reverse())) run(n, f);
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[(s.length - 1) >> 1]; };
for (const [k, v] of Object.entries(res)) console.log(k.padEnd(20), med(v).toFixed(3), Math.min(...v).toFixed(3), Math.max(...v).toFixed(3));
