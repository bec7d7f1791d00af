/**
 * The service's plain-HTTP probes, the one copy: `/readyz` and `/metrics` read over HTTP/1.1, and
 * Prometheus samples picked out of the text. `at` is a base URL (`TestApp.baseUrl`) or a port on
 * 127.0.0.1 (a spawned process).
 */
const base = (at: string | number) => (typeof at === "number" ? `http://127.0.0.1:${at}` : at);

export async function readyz(at: string | number): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${base(at)}/readyz`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

export async function metricsText(at: string | number): Promise<string> {
  return (await fetch(`${base(at)}/metrics`)).text();
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The values of every sample of `name` whose labels include `labels` (in the exposition's order). */
export function samples(text: string, name: string, labels: Record<string, string> = {}): number[] {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    const m = SAMPLE.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(LABEL)].map((l) => [l[1]!, l[2]!]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) out.push(Number(m[3]));
  }
  return out;
}

/** A counter's total over the matching samples; 0 when there is none yet (not incremented). */
export const counter = (text: string, name: string, labels: Record<string, string> = {}): number =>
  samples(text, name, labels).reduce((sum, v) => sum + v, 0);
