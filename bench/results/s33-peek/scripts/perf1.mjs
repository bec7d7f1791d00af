import * as crypto from "node:crypto";
import { LRUCache } from "lru-cache";
import { generateToken } from "../dist/bench/src/domain/token-format.js";
const h = crypto.hash;
const gen = Array.from({ length: 20_300 }, () => generateToken("api_key", "fill"));
const l = new LRUCache({ max: 100_000, dispose: () => {} }); for (const t of gen) l.set(h("sha256", t, "binary"), { a: 1 });
let sink = 0;
for (let i = 0; i < 10_000_000; i++) if (l.get(h("sha256", gen[i % gen.length], "binary"))) sink++;
console.log(sink);
