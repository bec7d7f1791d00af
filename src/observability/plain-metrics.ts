// Per-call metrics without prom-client on the hot path: plain numbers per label set, read by the
// registry at scrape time. The series (names, labels, values, order) are what prom-client's own
// Counter and Histogram give for the same calls (test/unit/plain-metrics.test.ts compares them);
// prom-client's observe() hashes its labels and allocates on every call, these do neither.
import type { Counter, Registry } from "prom-client";

/** One label set's count. */
export class PlainCount {
  n = 0;
  constructor(readonly labelValues: readonly string[]) {}
  inc(): void {
    this.n++;
  }
}

/**
 * Children of `counter` counted as plain integers: `child(...labelValues)` gives the label set's
 * counter (resolve it once, then inc() per call). Copied into the counter when it is collected, so
 * the counter must be counted only through these children.
 */
const childrenOf = new WeakMap<Counter<string>, PlainCount[]>();

export function plainCounterChildren<L extends string>(counter: Counter<L>): (...labelValues: string[]) => PlainCount {
  let children = childrenOf.get(counter);
  if (children === undefined) {
    const all: PlainCount[] = (children = []);
    childrenOf.set(counter, all);
    (counter as unknown as { collect: (this: Counter<L>) => void }).collect = function collect() {
      this.reset();
      // A series appears once counted (as with prom-client's own inc()); equal label sets add up.
      for (const c of all) if (c.n > 0) this.labels(...(c.labelValues as string[])).inc(c.n);
    };
  }
  const list = children;
  return (...labelValues) => {
    const child = new PlainCount(labelValues);
    list.push(child);
    return child;
  };
}

/** One label set of a PlainHistogram: counts per bucket (not cumulative), sum and count. */
export class PlainSeries {
  sum = 0;
  count = 0;
  readonly buckets: Float64Array;
  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError("Value is not a valid number");
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.buckets[i]!++;
    this.sum += value;
    this.count++;
  }
}

type Value = {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  exemplar?: null;
};

/**
 * A histogram with prom-client's exposition (the registry formats it as one of its own), observed
 * through plain per-series numbers. `labels(...values)` gives the series (resolve it once).
 */
export class PlainHistogram<L extends string> {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly L[];
  private readonly bounds: number[];
  private series = new Map<string, PlainSeries>();

  constructor(cfg: { name: string; help: string; labelNames: readonly L[]; buckets: number[]; registers: Registry[] }) {
    this.name = cfg.name;
    this.help = cfg.help;
    this.labelNames = cfg.labelNames;
    this.bounds = [...cfg.buckets].sort((a, b) => a - b);
    for (const r of cfg.registers) r.registerMetric(this as never);
  }

  labels(...values: string[]): PlainSeries {
    const key = values.join("\u0000");
    let s = this.series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      this.series.set(key, (s = new PlainSeries(labels, this.bounds)));
    }
    return s;
  }

  reset(): void {
    this.series = new Map();
  }

  /** What the registry formats (prom-client's Histogram getForPromString shape). */
  getForPromString() {
    const values: Value[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      if (s.count === 0) continue;
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.buckets[i]!;
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: bucket, exemplar: null });
      });
      values.push({
        labels: { le: "+Inf" },
        sharedLabels: s.labels,
        value: s.count,
        metricName: bucket,
        exemplar: null,
      });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form (getMetricsAsJSON): shared labels spread into each value's labels. */
  get() {
    const data = this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }
}
