/**
 * Summarizes a .cpuprofile (node --cpu-prof): self time by function and by package, and the total
 * (inclusive) time of chosen functions. Usage: tsx bench/tools/profile-summary.ts FILE [topN] [fn,fn]
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const [file, topArg, fnArg] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(file!, "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const pkg = (url: string) => {
  if (url === "") return "(native/vm)";
  const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.startsWith("node:")) return url;
  const s = /\/work\/main\/(src\/[^/]+\/[^/]+|bench\/[^/]+)/.exec(url);
  return s ? s[1]! : url;
};
const label = (n: Node) =>
  `${n.callFrame.functionName || "(anon)"} ${pkg(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
const agg = (key: (n: Node) => string) => {
  const m = new Map<string, number>();
  for (const [id, t] of self) {
    const k = key(byId.get(id)!);
    m.set(k, (m.get(k) ?? 0) + t);
  }
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
};
const pct = (t: number) => `${((t / total) * 100).toFixed(1).padStart(5)}%`;
const top = Number(topArg ?? 40);
console.log(`total sampled ${(total / 1000).toFixed(0)} ms`);
console.log("\n== self time by package ==");
for (const [k, t] of agg((n) =>
  n.callFrame.functionName.startsWith("(") ? n.callFrame.functionName : pkg(n.callFrame.url),
).slice(0, 25))
  console.log(pct(t), k);
console.log("\n== self time by function ==");
for (const [k, t] of agg(label).slice(0, top)) console.log(pct(t), k);
if (fnArg) {
  console.log("\n== inclusive time ==");
  for (const fn of fnArg.split(",")) {
    let t = 0;
    for (const [id, st] of self) {
      let cur: number | undefined = id;
      while (cur !== undefined) {
        const n = byId.get(cur)!;
        if (n.callFrame.functionName === fn) {
          t += st;
          break;
        }
        cur = parent.get(cur);
      }
    }
    console.log(pct(t), fn);
  }
}
