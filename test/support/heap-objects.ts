// What this process's heap holds, for tests whose service runs in-process (useTestApp): a GC on
// demand (exposed through V8's flag, no --expose-gc needed) and the live objects per constructor
// name from a heap snapshot (test/hardening/watch-never-reading.test.ts, watch-direct-wire).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString, writeHeapSnapshot } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
export const gc = runInNewContext("gc") as () => void;

/** Live objects per constructor name (V8 heap snapshot of this process, after a GC). */
export function liveObjects(names: string[]): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), "wf-watch-never-reading-"));
  try {
    const snap = JSON.parse(readFileSync(writeHeapSnapshot(join(dir, "s.heapsnapshot")), "utf8")) as {
      snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
      nodes: number[];
      strings: string[];
    };
    const f = snap.snapshot.meta.node_fields;
    const [iType, iName] = [f.indexOf("type"), f.indexOf("name")];
    const object = snap.snapshot.meta.node_types[0].indexOf("object");
    const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    for (let i = 0; i < snap.nodes.length; i += f.length) {
      if (snap.nodes[i + iType] !== object) continue;
      const name = snap.strings[snap.nodes[i + iName]!]!;
      if (name in counts) counts[name]!++;
    }
    return counts;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
