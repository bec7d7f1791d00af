import * as crypto from "node:crypto";
import { LRUCache } from "lru-cache";
const h = crypto.hash;
const rnd = (n) => crypto.randomBytes(n).toString("base64url");
const tokens = Array.from({ length: 20_300 }, () => `wf_live_${rnd(4)}_${rnd(24)}`.slice(0, 46));
const N = 1_000_000;
const cpu = () => { const c = process.cpuUsage(); return c.user + c.system; };
const encs = ["base64url", "latin1", "hex"];
const lrus = {};
const junk = [];
for (const e of encs) lrus[e] = new LRUCache({ max: 100_000, dispose: () => {} });
for (const t of tokens) for (const e of encs) { lrus[e].set(h("sha256", t, e), { a: 1, b: 2, t: e }); for (let j = 0; j < 30; j++) junk.push({ j }); if (junk.length > 10000) junk.length = 0; }
let sink = 0;
const res = {};
const run = (name, f) => {
  const c0 = cpu();
  for (let i = 0; i < N; i++) if (f(tokens[i % tokens.length])) sink++;
  (res[name] ??= []).push((cpu() - c0) / N);
};
for (let r = 0; r < 9; r++) {
  for (const e of (r % 2 ? encs : [...encs].reverse())) { run(`hash ${e}`, (t) => h("sha256", t, e)); run(`hash+lru ${e}`, (t) => lrus[e].get(h("sha256", t, e))); }
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[(s.length - 1) >> 1]; };
for (const [k, v] of Object.entries(res)) console.log(k.padEnd(20), med(v).toFixed(3), Math.min(...v).toFixed(3), Math.max(...v).toFixed(3));
