/**
 * Where the JS heap of an open WatchInvalidations stream goes, in the whole server (grpc-js,
 * Node's HTTP/2 stream, our layers): the real service in this process (createApp, memory store,
 * real listener), N watchers held by a child process (bench/cases/watcher-clients.ts), a V8 heap
 * snapshot with 0 and with N open, and the difference per watcher by object kind (constructor or
 * closure name), largest first. bench/tools/watcher-memory.ts measures our layers alone.
 * Run as production runs (tsc output: under tsx, esbuild's keepNames turns every named closure into a
 * dictionary-mode function, ~256 bytes more each): `node bench/lib/build.ts`-style build with
 * `npx tsc -p bench/tsconfig.json`, then `node --expose-gc dist/bench/bench/tools/watcher-heap.js [N=1000] [top=40]`
 * (`node --expose-gc --import tsx bench/tools/watcher-heap.ts` works too, with that overhead).
 * `RSS_ONLY=1`: no snapshots (writing one grows the RSS), the process's RSS and JS heap after a GC
 * with 0 and with N open instead, so a fresh process gives the RSS of N watchers.
 */
import { fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { createApp } from "../../src/app/app.js";
import { createLogger } from "../../src/app/logger.js";
import { loadConfig } from "../../src/config.js";
import { nextMessage } from "../lib/proc.js";
import { repoRoot } from "../lib/results.js";

const N = Number(process.argv[2] ?? 1000);
const TOP = Number(process.argv[3] ?? 40);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const dir = mkdtempSync(join(tmpdir(), "wf-watch-heap-"));

/** Self size and count per "type:name" of a heap snapshot. */
function kinds(file: string): Map<string, { bytes: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const f = snap.snapshot.meta.node_fields;
  const width = f.length;
  const [iType, iName, iSize] = [f.indexOf("type"), f.indexOf("name"), f.indexOf("self_size")];
  const types = snap.snapshot.meta.node_types[0];
  const out = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    let name =
      type === "string" || type === "concatenated string" || type === "sliced string"
        ? ""
        : snap.strings[snap.nodes[i + iName]!]!;
    if (name.length > 60) name = `${name.slice(0, 57)}...`;
    const k = `${type}:${name}`;
    const e = out.get(k) ?? { bytes: 0, count: 0 };
    e.bytes += snap.nodes[i + iSize]!;
    e.count++;
    out.set(k, e);
  }
  return out;
}

async function snapshot(tag: string) {
  for (let i = 0; i < 4; i++) gc!();
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < 4; i++) gc!();
  const heap = process.memoryUsage().heapUsed;
  return { heap, file: writeHeapSnapshot(join(dir, `${tag}.heapsnapshot`)) };
}

async function main() {
  const env = {
    ADMIN_KEY_FILE: join(dir, "admin-key"),
    PORT: "0",
    WATCH_MAX_WATCHERS: String(N + 100),
    MAX_OPEN_STREAMS_PER_ADDRESS: String(N + 100),
    MAX_OPEN_STREAMS: String(2 * N + 100),
    MAX_CONNECTIONS_PER_ADDRESS: "1000",
  };
  const app = await createApp({ config: loadConfig(env), logger: createLogger("warn") });
  await app.ready;
  // The clients run under tsx from the source tree (their cost is not measured here).
  const file = join(repoRoot, "bench", "cases", "watcher-clients.ts").replace(/\/dist\/[^/]+\//, "/");
  const child = fork(file, [], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  await nextMessage(child, "ready");
  // Warm every path once (a few watchers opened and closed), so code and caches are not counted.
  child.send({ type: "open", port: app.port, n: 100, perAddress: N + 100 });
  await nextMessage(child, "open:done", 60_000);
  child.send({ type: "close" });
  await nextMessage(child, "close:done");
  if (process.env.RSS_ONLY === "1") {
    const settled = async () => {
      for (let i = 0; i < 4; i++) gc!();
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < 4; i++) gc!();
      return process.memoryUsage();
    };
    const m0 = await settled();
    child.send({ type: "open", port: app.port, n: N, perAddress: N + 100 });
    await nextMessage(child, "open:done", 120_000);
    await new Promise((r) => setTimeout(r, 1500)); // a heartbeat or two
    const m1 = await settled();
    const mib = (b: number) => (b / 2 ** 20).toFixed(2);
    console.log(
      `${N} watchers: RSS ${mib(m0.rss)} -> ${mib(m1.rss)} MiB (+${mib(m1.rss - m0.rss)}), ` +
        `JS heap +${mib(m1.heapUsed - m0.heapUsed)} MiB (committed +${mib(m1.heapTotal - m0.heapTotal)}), external +${mib(m1.external - m0.external)} MiB`,
    );
    // Closed again: what stays is the allocators' (V8's and malloc's) headroom, not the watchers'.
    child.send({ type: "close" });
    await nextMessage(child, "close:done");
    await new Promise((r) => setTimeout(r, 1000));
    const m2 = await settled();
    console.log(
      `closed again: RSS ${mib(m2.rss)} MiB (+${mib(m2.rss - m0.rss)} over the start), JS heap +${mib(m2.heapUsed - m0.heapUsed)} MiB`,
    );
    child.send({ type: "shutdown" });
    await app.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }
  const before = await snapshot("before");
  child.send({ type: "open", port: app.port, n: N, perAddress: N + 100 });
  await nextMessage(child, "open:done", 120_000);
  await new Promise((r) => setTimeout(r, 1500)); // a heartbeat or two
  const after = await snapshot("after");
  console.log(`${N} watchers: JS heap +${((after.heap - before.heap) / N).toFixed(0)} bytes per watcher`);
  // Parsed only now: a parsed snapshot held while the second is taken would be in it.
  const was = kinds(before.file);
  const rows = [...kinds(after.file).entries()]
    .map(([k, a]) => {
      const b = was.get(k) ?? { bytes: 0, count: 0 };
      return { k, bytes: (a.bytes - b.bytes) / N, count: (a.count - b.count) / N };
    })
    .filter((r) => Math.abs(r.bytes) >= 8)
    .sort((x, y) => y.bytes - x.bytes);
  const total = rows.reduce((s, r) => s + r.bytes, 0);
  console.log(`snapshot difference: ${total.toFixed(0)} bytes per watcher in these kinds\n`);
  console.log("bytes/watcher  objects/watcher  kind");
  for (const r of rows.slice(0, TOP))
    console.log(`${r.bytes.toFixed(0).padStart(13)}  ${r.count.toFixed(2).padStart(15)}  ${r.k}`);
  child.send({ type: "shutdown" });
  await app.close();
  if (process.env.KEEP_SNAPSHOTS === "1") console.log(`snapshots kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
void main();
