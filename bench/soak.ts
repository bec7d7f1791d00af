/**
 * Soak: minutes of mixed traffic against the real service, loopback only, bounded in time and count.
 *
 *   npm run soak                       # 3 minutes against a freshly started `src/main.ts`
 *   SOAK_SECONDS=60 npm run soak       # shorter
 *
 * Env: SOAK_SECONDS (default 180, max 3600), SOAK_MAX_CALLS (default 5,000,000), SOAK_CONCURRENCY
 * (default 32), SOAK_WINDOW_SECONDS (default 30), SOAK_ADMIN_PERCENT (share of admin calls, default
 * 10; 0 = Introspect only, on a fixed data set), SOAK_TARGET=127.0.0.1:port + SOAK_ADMIN_KEY to
 * soak an already running instance (loopback addresses only; anything else is refused).
 *
 * Traffic: Introspect (gRPC mostly, some Connect JSON) of live keys, deprecated keys, sessions,
 * revoked keys and junk; CreateKey, RotateKey, RevokeKey, CreateSession (gRPC) and
 * POST /api/v1/sessions. Admin operations never race on a tenant (one at a time per tenant), so
 * every call has one right answer: an error is any failed call or any wrong answer (an active
 * revoked key, an inactive live key). Expected: 0.
 * Reports per window: calls, errors, p50/p99/max latency (all calls and Introspect), service RSS
 * and V8 heap in use (from /metrics; the store and caches grow with every key and session issued);
 * at the end a summary and one JSON line ({"soak": ...}), also kept in bench/results/<name>.json
 * (BENCH_RESULT_NAME, default soak-<UTC time>). Exit code 1 when errors > 0.
 */
import { readFileSync } from "node:fs";
import { status } from "@grpc/grpc-js";
import { generateToken } from "../src/domain/token-format.js";
import { createGrpcTokenClient } from "../test/support/grpc-client.js";
import { spawnService, type ServiceProcess } from "../test/support/service-process.js";
import { writeResult } from "./lib/results.js";

const env = process.env;
const num = (name: string, fallback: number, min: number, max: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number between ${min} and ${max}`);
  return n;
};
const SECONDS = num("SOAK_SECONDS", 180, 1, 3600);
const MAX_CALLS = num("SOAK_MAX_CALLS", 5_000_000, 1, 100_000_000);
const CONCURRENCY = num("SOAK_CONCURRENCY", 32, 1, 1024);
const WINDOW_S = num("SOAK_WINDOW_SECONDS", 30, 1, 3600);
const ADMIN_SHARE = num("SOAK_ADMIN_PERCENT", 10, 0, 100) / 100;
const TENANTS = 40;

// ---- target: a fresh service process, or a running one on loopback -----------------------------
let svc: ServiceProcess | undefined;
let port: number;
let adminKey: string;
if (env.SOAK_TARGET) {
  const m = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):(\d+)$/.exec(env.SOAK_TARGET);
  if (!m) throw new Error("SOAK_TARGET must be a loopback address (127.x.x.x, localhost or [::1]) with a port");
  if (!env.SOAK_ADMIN_KEY) throw new Error("SOAK_TARGET needs SOAK_ADMIN_KEY");
  port = Number(m[2]);
  adminKey = env.SOAK_ADMIN_KEY;
} else {
  svc = await spawnService({ env: { LOG_LEVEL: "info", HOST: "127.0.0.1" }, maxLogs: 1000 });
  port = svc.port;
  adminKey = svc.adminKey;
}
const host = env.SOAK_TARGET ? env.SOAK_TARGET.replace(/:\d+$/, "") : "127.0.0.1";
const baseUrl = `http://${host}:${port}`;
const grpc = createGrpcTokenClient(`${host}:${port}`);
const admin = { bearer: adminKey };

const mib = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
/** The service's resident memory (from /proc when we started it, else /metrics) and V8 heap in use. */
async function memory(): Promise<{ rss: number; heapUsed: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const metric = (name: string) => {
    const m = new RegExp(`^${name} (\\d+(?:\\.\\d+)?(?:e\\+\\d+)?)`, "m").exec(text);
    return m ? Number(m[1]) : NaN;
  };
  let rss = mib(metric("process_resident_memory_bytes"));
  if (svc) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${svc.pid}/status`, "utf8"));
    if (m) rss = Math.round((Number(m[1]) / 1024) * 10) / 10;
  }
  return { rss, heapUsed: mib(metric("nodejs_heap_size_used_bytes")) };
}

// ---- the model: what every token should introspect as -----------------------------------------
interface Key {
  id: string;
  token: string;
}
interface Tenant {
  id: string;
  active: Key[];
  deprecated: Key[];
  busy: boolean;
}
const tenants: Tenant[] = Array.from({ length: TENANTS }, (_, i) => ({
  id: `soak-${i}`,
  active: [],
  deprecated: [],
  busy: false,
}));
const revoked: string[] = []; // bounded ring of revoked tokens
/** Tokens whose revocation has been sent: an introspection racing it may see either answer. */
const revoking = new Set<string>();
const sessions: { token: string; tenant: string }[] = [];
const pick = <T>(xs: T[]): T | undefined => (xs.length === 0 ? undefined : xs[Math.floor(Math.random() * xs.length)]);
const remember = <T>(xs: T[], x: T, max: number) => {
  xs.push(x);
  if (xs.length > max) xs.splice(0, xs.length - max);
};

// ---- statistics ----------------------------------------------------------------------------------
interface Window {
  index: number;
  seconds: number;
  calls: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  introspectP99Ms: number;
  rssMiB: number;
  heapUsedMiB: number;
}
const windows: Window[] = [];
let lat: number[] = [];
let latIntrospect: number[] = [];
let windowCalls = 0;
let windowErrors = 0;
let calls = 0;
let errors = 0;
let keysIssued = 0;
let sessionsIssued = 0;
const byOp: Record<string, number> = {};
const errorsByKind: Record<string, number> = {};
const errorSamples: string[] = [];
const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return 0;
  const s = Float64Array.from(xs).sort();
  return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 1000) / 1000;
};
function fail(kind: string, detail: string) {
  errors++;
  windowErrors++;
  errorsByKind[kind] = (errorsByKind[kind] ?? 0) + 1;
  if (errorSamples.length < 20) errorSamples.push(`${kind}: ${detail}`);
}
const codeOf = (e: unknown) => status[(e as { code?: number }).code ?? -1] ?? String(e);

// ---- operations ---------------------------------------------------------------------------------
async function introspectExpect(
  token: string,
  expectActive: boolean,
  tenant: string | undefined,
  via: "grpc" | "connect",
) {
  let active: boolean;
  let tenantId: string;
  if (via === "grpc") {
    const r = await grpc.introspect({ token });
    active = r.active;
    tenantId = r.tenantId;
  } else {
    const res = await fetch(`${baseUrl}/warpflow.auth.v1.TokenService/Introspect`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    if (res.status !== 200) throw Object.assign(new Error(`HTTP ${res.status}`), { http: res.status });
    const body = (await res.json()) as { active?: boolean; tenantId?: string };
    active = body.active === true;
    tenantId = body.tenantId ?? "";
  }
  if (active !== expectActive && !(expectActive && revoking.has(token))) {
    fail("wrong_answer", `${token.slice(0, 14)}... expected active=${expectActive}`);
  } else if (active && tenant && tenantId !== tenant) fail("wrong_tenant", `${tenantId} != ${tenant}`);
}

/** One call of the mix; returns its name (for the per-op counts). */
async function oneCall(): Promise<string> {
  const r = Math.random();
  // Admin operations (SOAK_ADMIN_PERCENT, default 10%), one at a time per tenant.
  if (r < ADMIN_SHARE) {
    const free = tenants.filter((t) => !t.busy);
    const t = pick(free);
    if (t) {
      t.busy = true;
      try {
        const a = r / ADMIN_SHARE; // 0..1 within the admin share
        if (a < 0.35 && t.active.length < 3) {
          const k = await grpc.createKey({ tenantId: t.id, label: "soak" }, admin);
          t.active.push({ id: k.key!.id, token: k.token });
          keysIssued++;
          return "CreateKey";
        }
        if (a < 0.6 && t.active.length > 0) {
          if (t.deprecated.length >= 3) {
            // At most 3 deprecated keys in grace per tenant: revoke the oldest first, as the
            // RESOURCE_EXHAUSTED answer tells an operator to.
            const d = t.deprecated.shift()!;
            revoking.add(d.token);
            await grpc.revokeKey({ tenantId: t.id, keyId: d.id }, admin);
            remember(revoked, d.token, 2000);
            setTimeout(() => revoking.delete(d.token), 10_000).unref();
          }
          const old = t.active.splice(Math.floor(Math.random() * t.active.length), 1)[0]!;
          const k = await grpc.rotateKey({ tenantId: t.id, keyId: old.id }, admin).catch((e: unknown) => {
            t.active.push(old);
            throw e;
          });
          t.active.push({ id: k.key!.id, token: k.token });
          remember(t.deprecated, old, 3);
          keysIssued++;
          return "RotateKey";
        }
        if (a < 0.8 && t.active.length + t.deprecated.length > 0) {
          const fromActive = t.deprecated.length === 0 || (t.active.length > 0 && Math.random() < 0.5);
          const list = fromActive ? t.active : t.deprecated;
          const k = list.splice(Math.floor(Math.random() * list.length), 1)[0]!;
          revoking.add(k.token);
          await grpc.revokeKey({ tenantId: t.id, keyId: k.id }, admin);
          remember(revoked, k.token, 2000); // from now on it must introspect inactive
          setTimeout(() => revoking.delete(k.token), 10_000).unref();
          return "RevokeKey";
        }
        sessionsIssued++;
        if (a < 0.9) {
          const s = await grpc.createSession({ tenantId: t.id }, admin);
          remember(sessions, { token: s.token, tenant: t.id }, 2000);
          return "CreateSession";
        }
        const res = await fetch(`${baseUrl}/api/v1/sessions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` },
          body: JSON.stringify({ tenant_id: t.id }),
        });
        if (res.status !== 200) throw Object.assign(new Error(`REST HTTP ${res.status}`), { http: res.status });
        const body = (await res.json()) as { token: string };
        remember(sessions, { token: body.token, tenant: t.id }, 2000);
        return "RestSession";
      } finally {
        t.busy = false;
      }
    }
  }
  // Introspect (~90%): what to ask about.
  const via = Math.random() < 0.05 ? "connect" : "grpc";
  const q = Math.random();
  if (q < 0.55) {
    const t = pick(tenants.filter((x) => x.active.length > 0 && !x.busy));
    const k = t && pick(t.active);
    if (t && k) return introspectExpect(k.token, true, t.id, via).then(() => "Introspect:live");
  } else if (q < 0.65) {
    const t = pick(tenants.filter((x) => x.deprecated.length > 0 && !x.busy));
    const k = t && pick(t.deprecated);
    if (t && k) return introspectExpect(k.token, true, t.id, via).then(() => "Introspect:deprecated");
  } else if (q < 0.78) {
    const s = pick(sessions);
    if (s) return introspectExpect(s.token, true, s.tenant, via).then(() => "Introspect:session");
  } else if (q < 0.86) {
    const tok = pick(revoked);
    if (tok) return introspectExpect(tok, false, undefined, via).then(() => "Introspect:revoked");
  }
  const junk =
    Math.random() < 0.5
      ? generateToken("api_key", pick(tenants)!.id)
      : `wf_soak_${Math.random().toString(36).slice(2)}`;
  return introspectExpect(junk, false, undefined, via).then(() => "Introspect:unknown");
}

// ---- run ----------------------------------------------------------------------------------------
const startedAt = Date.now();
const deadline = startedAt + SECONDS * 1000;
// Seed: one key and one session per tenant, so every kind of Introspect has a subject at once.
for (const t of tenants) {
  const k = await grpc.createKey({ tenantId: t.id, label: "soak seed" }, admin);
  t.active.push({ id: k.key!.id, token: k.token });
  const s = await grpc.createSession({ tenantId: t.id }, admin);
  remember(sessions, { token: s.token, tenant: t.id }, 2000);
  keysIssued++;
  sessionsIssued++;
}
const memStart = await memory();
const rssStart = memStart.rss;
console.log(
  `soak: ${SECONDS} s (max ${MAX_CALLS} calls), ${CONCURRENCY} in flight, ${Math.round(ADMIN_SHARE * 100)}% admin calls, windows of ${WINDOW_S} s, ` +
    `service ${baseUrl}${svc ? ` (pid ${svc.pid})` : ""}, RSS at start ${rssStart} MiB (heap ${memStart.heapUsed} MiB)`,
);

let windowStart = Date.now();
async function closeWindow() {
  const now = Date.now();
  const w: Window = {
    index: windows.length + 1,
    seconds: Math.round((now - windowStart) / 100) / 10,
    calls: windowCalls,
    errors: windowErrors,
    p50Ms: quantile(lat, 0.5),
    p99Ms: quantile(lat, 0.99),
    maxMs: quantile(lat, 1),
    introspectP99Ms: quantile(latIntrospect, 0.99),
    ...(await memory().then((m) => ({ rssMiB: m.rss, heapUsedMiB: m.heapUsed }))),
  };
  windows.push(w);
  console.log(
    `window ${w.index}: ${w.calls} calls (${Math.round(w.calls / Math.max(w.seconds, 0.001))}/s), ${w.errors} errors, ` +
      `p50 ${w.p50Ms} ms, p99 ${w.p99Ms} ms (Introspect ${w.introspectP99Ms} ms), max ${w.maxMs} ms, RSS ${w.rssMiB} MiB, heap ${w.heapUsedMiB} MiB (${keysIssued} keys, ${sessionsIssued} sessions issued so far)`,
  );
  lat = [];
  latIntrospect = [];
  windowCalls = 0;
  windowErrors = 0;
  windowStart = now;
}

const windowTimer = setInterval(() => void closeWindow(), WINDOW_S * 1000);
async function worker() {
  while (Date.now() < deadline && calls < MAX_CALLS) {
    calls++;
    windowCalls++;
    const t0 = performance.now();
    let op = "unknown";
    try {
      op = await oneCall();
    } catch (e) {
      const http = (e as { http?: number }).http;
      fail(http ? `http_${http}` : `grpc_${codeOf(e)}`, (e as Error).message ?? String(e));
    }
    const ms = performance.now() - t0;
    lat.push(ms);
    if (op.startsWith("Introspect")) latIntrospect.push(ms);
    byOp[op] = (byOp[op] ?? 0) + 1;
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
clearInterval(windowTimer);
if (windowCalls > 0) await closeWindow();
const memEnd = await memory();
const rssEnd = memEnd.rss;

let exit: { code: number | null; ms: number } | undefined;
grpc.close();
if (svc) {
  const t0 = Date.now();
  svc.child.kill("SIGTERM");
  const e = await svc.exited;
  exit = { code: e.code, ms: e.at - t0 };
}

const elapsed = (Date.now() - startedAt) / 1000;
const summary = {
  seconds: Math.round(elapsed * 10) / 10,
  calls,
  callsPerSecond: Math.round(calls / elapsed),
  errors,
  errorsByKind,
  byOp,
  rssMiB: { start: rssStart, end: rssEnd },
  heapUsedMiB: { start: memStart.heapUsed, end: memEnd.heapUsed },
  issued: { keys: keysIssued, sessions: sessionsIssued },
  p99MsByWindow: windows.map((w) => w.p99Ms),
  introspectP99MsByWindow: windows.map((w) => w.introspectP99Ms),
  windows,
  serviceExit: exit,
};
console.log("");
console.log(`soak summary: ${calls} calls in ${summary.seconds} s (${summary.callsPerSecond}/s), errors: ${errors}`);
console.log(
  `  by operation: ${Object.entries(byOp)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")}`,
);
console.log(
  `  service RSS: ${rssStart} MiB at start, ${rssEnd} MiB at end (V8 heap in use ${memStart.heapUsed} -> ${memEnd.heapUsed} MiB; ${keysIssued} keys and ${sessionsIssued} sessions issued, all kept by the store)`,
);
console.log(`  p99 per ${WINDOW_S} s window (ms): ${summary.p99MsByWindow.join(", ")}`);
if (exit) console.log(`  service stopped by SIGTERM: exit ${exit.code} in ${exit.ms} ms`);
for (const s of errorSamples) console.log(`  error: ${s}`);
console.log(JSON.stringify({ soak: summary }));
writeResult("soak", {
  ...summary,
  errorSamples,
  seconds_asked: SECONDS,
  concurrency: CONCURRENCY,
  admin_share: ADMIN_SHARE,
  target: env.SOAK_TARGET ? "running instance" : "fresh src/main.ts",
});
process.exit(errors > 0 || (exit && exit.code !== 0) ? 1 : 0);
