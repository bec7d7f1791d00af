import * as crypto from "node:crypto";
import { LRUCache } from "lru-cache";
const h = crypto.hash;
const rnd = (n) => crypto.randomBytes(n).toString("base64url");
const tokens = Array.from({ length: 20_300 }, () => `wf_live_${rnd(4)}_${rnd(24)}`.slice(0, 46));
const lru = new LRUCache({ max: 100_000, dispose: () => {} });
for (const t of tokens) lru.set(h("sha256", t, "binary"), { a: 1 });
let sink = 0;
function hashOnly(t) { return h("sha256", t, "binary"); }
function look(k) { return lru.get(k); }
for (let i = 0; i < 8_000_000; i++) if (look(hashOnly(tokens[i % tokens.length]))) sink++;
console.log(sink);
