/** Reads the service's Prometheus text at /metrics into "name{labels}" -> value. */
export type Scrape = Map<string, number>;

export async function scrape(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  const out: Scrape = new Map();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sum of every series of `name` whose labels include all of `labels` (e.g. operation="findKeyByHash"). */
export function sum(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const [series, value] of s) {
    const brace = series.indexOf("{");
    const metric = brace < 0 ? series : series.slice(0, brace);
    if (metric !== name) continue;
    if (wanted.every((w) => series.includes(w))) total += value;
  }
  return total;
}

/** The store and cache figures the bench reports, as differences between two scrapes. */
export interface StoreTraffic {
  introspectStoreReads: number;
  findKeyByHash: number;
  findSessionByHash: number;
  getPolicy: number;
  storeReads: number;
  recordKeyUses: number;
  lastUsedFlushes: number;
  lastUsedKeysFlushed: number;
}

export function storeTraffic(a: Scrape, b: Scrape): StoreTraffic {
  const d = (name: string, labels?: Record<string, string>) => sum(b, name, labels) - sum(a, name, labels);
  const op = (operation: string) => d("warpflow_store_call_duration_seconds_count", { operation });
  const findKeyByHash = op("findKeyByHash");
  const findSessionByHash = op("findSessionByHash");
  const getPolicy = op("getPolicy");
  return {
    introspectStoreReads: d("warpflow_introspect_store_reads_total"),
    findKeyByHash,
    findSessionByHash,
    getPolicy,
    storeReads: findKeyByHash + findSessionByHash + getPolicy + op("getKey") + op("listKeys") + op("hasUsableKey"),
    recordKeyUses: op("recordKeyUses"),
    lastUsedFlushes: d("warpflow_last_used_flushes_total"),
    lastUsedKeysFlushed: d("warpflow_last_used_keys_flushed_total"),
  };
}
