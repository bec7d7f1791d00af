import * as crypto from "node:crypto";
import { LRUCache } from "lru-cache";
import { generateToken } from "../dist/bench/src/domain/token-format.js";
const h = crypto.hash;
const gen = Array.from({ length: 20_300 }, () => generateToken("api_key", "fill"));
const flat = JSON.parse(JSON.stringify(gen));
const N = 1_000_000;
const cpu = () => { const c = process.cpuUsage(); return c.user + c.system; };
const res = {};
const mk = (enc, toks) => { const l = new LRUCache({ max: 100_000, dispose: () => {} }); for (const t of toks) l.set(h("sha256", t, enc), { a: 1 }); return l; };
const vs = [];
for (const enc of ["binary", "base64url", "utf16le"]) for (const [tn, toks] of [["gen", gen]]) { const l = mk(enc, toks); vs.push([`${enc} ${tn} hash`, (t) => h("sha256", t, enc), toks]); vs.push([`${enc} ${tn} hash+get`, (t) => l.get(h("sha256", t, enc)), toks]); }
let sink = 0;
for (let r = 0; r < 6; r++) for (const [n, f, toks] of (r % 2 ? vs : [...vs].reverse())) { const c0 = cpu(); for (let i = 0; i < N; i++) if (f(toks[i % toks.length])) sink++; (res[n] ??= []).push((cpu() - c0) / N); }
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[(s.length - 1) >> 1]; };
for (const [k, v] of Object.entries(res)) console.log(k.padEnd(28), med(v).toFixed(3), Math.min(...v).toFixed(3), Math.max(...v).toFixed(3));
