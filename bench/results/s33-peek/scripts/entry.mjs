import * as crypto from "node:crypto";
import { LRUCache } from "lru-cache";
import { generateToken } from "../dist/bench/src/domain/token-format.js";
const h = crypto.hash;
const gen = Array.from({ length: 20_300 }, () => generateToken("api_key", "fill"));
const N = 1_000_000;
const cpu = () => { const c = process.cpuUsage(); return c.user + c.system; };
const junk = [];
const base = Date.now();
const mk = (kind) => { const l = new LRUCache({ max: 100_000, dispose: () => {} }); for (const t of gen) {
  const e = kind === "heapnum" ? { answer: {x:1}, tenantId: "fill", expiresAtMs: Infinity, validUntilMs: Date.now() + 1e9, freshUntilMs: Date.now() + 1e9 + Math.random(), final: false, keyId: undefined }
    : { answer: {x:1}, tenantId: "fill", expiresAtMs: Infinity, validUntilMs: Date.now() + 1e9, freshUntilMs: (Date.now() - base + 1e9) | 0, final: false, keyId: undefined };
  l.set(h("sha256", t, "utf16le"), e); for (let j = 0; j < 40; j++) junk.push({ j, s: "x" + j }); if (junk.length > 20000) junk.length = 0; } return l; };
const lh = mk("heapnum"), ls = mk("smi");
const res = {};
const vs = [
  ["noread", (t) => lh.get(h("sha256", t, "utf16le")) !== undefined],
  ["heapnum", (t) => { const e = lh.get(h("sha256", t, "utf16le")); const now = Date.now(); return e !== undefined && (e.final || now < e.freshUntilMs); }],
  ["smi", (t) => { const e = ls.get(h("sha256", t, "utf16le")); const now = Date.now() - base; return e !== undefined && (e.final || now < e.freshUntilMs); }],
];
let sink = 0;
for (let r = 0; r < 8; r++) for (const [n, f] of (r % 2 ? vs : [...vs].reverse())) { const c0 = cpu(); for (let i = 0; i < N; i++) if (f(gen[i % gen.length])) sink++; (res[n] ??= []).push((cpu() - c0) / N); }
if (sink !== 24 * N) console.log("not all hit", sink);
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[(s.length - 1) >> 1]; };
for (const [k, v] of Object.entries(res)) console.log(k.padEnd(28), med(v).toFixed(3), Math.min(...v).toFixed(3), Math.max(...v).toFixed(3));
