import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenClient, type TokenClient } from "../../src/client/index.js";
import { HOUR, createManualClock } from "../support/manual-clock.js";
import { waitUntil } from "../support/poll.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Issue 20 "Proven": random interleavings of CreateKey, RotateKey, RevokeKey, CreateSession,
 * RevokeSession, RevokeTenantSessions, SetTenantPolicy, clock advances and lookups by several
 * clients, against the real server on an ephemeral port. The server and the clients share one
 * injected clock, so the bound is exact: a client may answer active where the server answers
 * inactive only while the clock is within STALENESS of the last change; one millisecond later,
 * never (whatever the real time the stream takes: a heartbeat stamps the clock's time of arrival,
 * and the stream delivers the change's invalidation before any later heartbeat).
 */
const STALENESS = 1000;
const clock = createManualClock();
const t = useTestApp({ clock, env: { WATCH_HEARTBEAT_MS: "50" }, logLevel: "warn" });
let clients: TokenClient[] = [];
beforeAll(async () => {
  clients = Array.from({ length: 3 }, () => createTokenClient({ address: t.address, stalenessMs: STALENESS, clock }));
  await waitUntil(() => clients.every((c) => c.state().healthy), 5000, "clients healthy");
});
afterAll(() => clients.forEach((c) => c.close()));

type Cmd =
  | { op: "createKey"; tenant: number }
  | { op: "rotateKey"; pick: number }
  | { op: "revokeKey"; pick: number }
  | { op: "createSession"; tenant: number }
  | { op: "revokeSession"; pick: number }
  | { op: "revokeTenantSessions"; tenant: number }
  | { op: "setPolicy"; tenant: number; hipaa: boolean }
  | { op: "advance"; ms: number }
  | { op: "lookup"; client: number; pick: number }
  | { op: "warm" };

const tenant = fc.integer({ min: 0, max: 1 });
const pick = fc.nat();
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant("createKey" as const), tenant }),
  fc.record({ op: fc.constant("rotateKey" as const), pick }),
  fc.record({ op: fc.constant("revokeKey" as const), pick }),
  fc.record({ op: fc.constant("createSession" as const), tenant }),
  fc.record({ op: fc.constant("revokeSession" as const), pick }),
  fc.record({ op: fc.constant("revokeTenantSessions" as const), tenant }),
  fc.record({ op: fc.constant("setPolicy" as const), tenant, hipaa: fc.boolean() }),
  fc.record({
    op: fc.constant("advance" as const),
    ms: fc.constantFrom(1, STALENESS - 1, STALENESS, STALENESS + 1, STALENESS + 1, HOUR, 72 * HOUR),
  }),
  {
    arbitrary: fc.record({ op: fc.constant("lookup" as const), client: fc.integer({ min: 0, max: 2 }), pick }),
    weight: 6,
  },
  { arbitrary: fc.record({ op: fc.constant("warm" as const) }), weight: 2 },
);

let run = 0;
describe("token client property: never active where the server says inactive, beyond the staleness bound", () => {
  it("holds for random interleavings (exact, injected clock)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 10, maxLength: 40 }), async (cmds) => {
        run++;
        const admin = { bearer: t.adminKey };
        const tenants = [`p${run}a`, `p${run}b`];
        const keys: { tenantId: string; keyId: string; token: string }[] = [];
        const sessions: { tenantId: string; sessionId: string; token: string }[] = [];
        const tokens: string[] = [];
        // When the last change that can turn an active answer inactive was made (revokes, a HIPAA
        // policy); expiry is no change: past expires_at, a client must never answer active.
        let lastChangeAt = clock.now().getTime();
        const changed = () => (lastChangeAt = clock.now().getTime());
        // Every run starts with a key and a session per tenant, so lookups have something to find.
        const start: Cmd[] = [0, 1].flatMap((i) => [
          { op: "createKey", tenant: i } as const,
          { op: "createSession", tenant: i } as const,
        ]);
        for (const c of [...start, { op: "warm" } as const, ...cmds]) {
          switch (c.op) {
            case "createKey": {
              const tenantId = tenants[c.tenant]!;
              const r = await t.grpc.createKey({ tenantId, label: "p" }, admin).catch(() => undefined);
              if (r) {
                keys.push({ tenantId, keyId: r.key!.id, token: r.token });
                tokens.push(r.token);
              }
              break;
            }
            case "rotateKey": {
              const k = keys[c.pick % Math.max(1, keys.length)];
              if (!k) break;
              const r = await t.grpc.rotateKey({ tenantId: k.tenantId, keyId: k.keyId }, admin).catch(() => undefined);
              if (r) {
                keys.push({ tenantId: k.tenantId, keyId: r.key!.id, token: r.token });
                tokens.push(r.token);
              }
              break;
            }
            case "revokeKey": {
              const k = keys[c.pick % Math.max(1, keys.length)];
              if (!k) break;
              await t.grpc.revokeKey({ tenantId: k.tenantId, keyId: k.keyId }, admin).catch(() => undefined);
              changed();
              break;
            }
            case "createSession": {
              const tenantId = tenants[c.tenant]!;
              const r = await t.grpc.createSession({ tenantId }, admin);
              sessions.push({ tenantId, sessionId: r.sessionId, token: r.token });
              tokens.push(r.token);
              break;
            }
            case "revokeSession": {
              const s = sessions[c.pick % Math.max(1, sessions.length)];
              if (!s) break;
              await t.grpc
                .revokeSession({ tenantId: s.tenantId, sessionId: s.sessionId }, admin)
                .catch(() => undefined);
              changed();
              break;
            }
            case "revokeTenantSessions":
              await t.grpc.revokeTenantSessions({ tenantId: tenants[c.tenant]! }, admin);
              changed();
              break;
            case "setPolicy":
              await t.grpc.setTenantPolicy({ tenantId: tenants[c.tenant]!, hipaaEnabled: c.hipaa }, admin);
              if (c.hipaa) changed();
              break;
            case "advance":
              clock.advance(c.ms);
              // Let a heartbeat arrive (stamped with the new time): the clients may answer from
              // cache again, which is what the property must survive.
              await waitUntil(() => clients.every((x) => x.state().healthy), 5000, "heartbeat after advance");
              break;
            case "warm": // every client caches every token (what it may answer from cache later)
              for (const client of clients) for (const token of tokens) await client.introspect(token);
              break;
            case "lookup": {
              const token = tokens[c.pick % Math.max(1, tokens.length)];
              if (!token) break;
              const mine = await clients[c.client]!.introspect(token);
              const server = await t.grpc.introspect({ token });
              if (mine.active && !server.active) {
                const since = clock.now().getTime() - lastChangeAt;
                expect(since, `client ${c.client} answered active ${since} ms after the change`).toBeLessThanOrEqual(
                  STALENESS,
                );
              }
              break;
            }
          }
        }
      }),
      { numRuns: Number(process.env.CLIENT_PROPERTY_RUNS ?? 40) },
    );
  }, 240_000);
});
