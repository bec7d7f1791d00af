import { writeFileSync, mkdtempSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { newKeyId } from "../../src/domain/key-rules.js";
import { generateToken, tokenHint } from "../../src/domain/token-format.js";
import { hashToken } from "../../src/domain/token-hash.js";
import {
  AuditAction,
  AuditActorKind,
  InactiveReason,
  InvalidationKind,
  KeyStatus,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { runCliInProcess } from "../support/cli.js";
import { h2Exchange } from "../support/h2-request.js";
import { createCountingStore, type CountingStore } from "../support/counting-store.js";
import { createManualClock } from "../support/manual-clock.js";
import { waitUntil } from "../support/poll.js";
import { MAX_ALERTS_IN_FLIGHT, ALERT_BODY_DEADLINE_MS } from "../../src/transport/http/secret-scanning-alerts.js";
import { MAX_ALERT_MATCHES } from "../../src/domain/secret-scanning.js";
import { alertBody, keyList, newSigner, postAlert, sha256Hex, signBody } from "../support/secret-scanning.js";
import { startTestApp, useTestApp } from "../support/test-app.js";
import { watchGrpc, type Watch } from "../support/watch-client.js";

/**
 * Issue 24: POST /api/v1/secret-scanning/alerts with GitHub's partner format, signed by a locally
 * generated P-256 key served as the key list from a file (SECRET_SCANNING_KEYS_FILE). The HTTPS
 * key list (URL, refetch bounds) is in secret-scanning-url.e2e.test.ts.
 */
const dir = mkdtempSync(join(tmpdir(), "wf-scan-"));
const listFile = join(dir, "keys.json");
const signer = newSigner();
const stranger = newSigner(signer.id); // same identifier, another private key
writeFileSync(listFile, keyList(signer));
const clock = createManualClock(new Date());
let counting: CountingStore;

const t = useTestApp(() => {
  counting = createCountingStore(createMemoryTokenStore());
  return {
    store: counting.store,
    clock,
    logLevel: "debug", // every line the service can write is searched for tokens
    env: {
      SECRET_SCANNING_ENABLED: "true",
      SECRET_SCANNING_KEYS_FILE: listFile,
      SECRET_SCANNING_MAX_BODY_BYTES: "262144",
      WATCH_HEARTBEAT_MS: "100",
    },
  };
});
const admin = () => ({ bearer: t.adminKey });
const open: Watch[] = [];
afterEach(() => open.splice(0).forEach((w) => w.cancel()));

const newKey = async (tenantId: string) => {
  const r = await t.grpc.createKey({ tenantId, label: "leaky" }, admin());
  return { token: r.token, id: r.key!.id, tenantId };
};
const isActive = async (token: string) => (await t.grpc.introspect({ token })).active;

beforeAll(async () => {
  // The file was read at start; the first alert must not wait on anything.
  expect((await postAlert(t.baseUrl, "[]", signer)).status).toBe(200);
});

describe("a verified alert", () => {
  it("revokes the live keys and sessions of a mixed batch at once and labels every distinct token", async () => {
    const live = await newKey("leak-a");
    const other = await newKey("leak-a");
    const revoked = await newKey("leak-a");
    await t.grpc.revokeKey({ tenantId: "leak-a", keyId: revoked.id }, admin());
    const session = await t.grpc.createSession({ tenantId: "leak-a" }, admin());
    const adminKey2 = await t.grpc.createAdminKey({ label: "ci" }, admin());
    const unknown = generateToken("api_key", "leak-a"); // well-formed, never issued
    const last = live.token.at(-1) === "A" ? "B" : "A";
    const malformed = `${live.token.slice(0, -1)}${last}`; // checksum fails
    const w = watchGrpc(t.address);
    open.push(w);
    await w.until((m) => m.event.case === "heartbeat", 5000, "first heartbeat");

    const body = alertBody([
      { token: live.token, url: "https://github.com/octo/leaky/blob/0123abc/.env", source: "commit" },
      { token: revoked.token },
      { token: unknown },
      { token: malformed },
      { token: live.token, url: "https://gist.github.com/octo/dup" }, // duplicate: judged once
      { token: session.token, type: "warpflow_session" },
      { token: adminKey2.token, type: "warpflow_api_key", source: "npm" },
    ]);
    const answer = await postAlert(t.baseUrl, body, signer);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual([
      { token_hash: sha256Hex(live.token), token_type: "warpflow_api_key", label: "true_positive" },
      { token_hash: sha256Hex(revoked.token), token_type: "warpflow_api_key", label: "false_positive" },
      { token_hash: sha256Hex(unknown), token_type: "warpflow_api_key", label: "false_positive" },
      { token_hash: sha256Hex(malformed), token_type: "warpflow_api_key", label: "false_positive" },
      { token_hash: sha256Hex(session.token), token_type: "warpflow_session", label: "true_positive" },
      { token_hash: sha256Hex(adminKey2.token), token_type: "warpflow_api_key", label: "true_positive" },
    ]);

    // Inactive on the next Introspect (the cache was invalidated); the untouched key still works.
    expect(await t.grpc.introspect({ token: live.token })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.REVOKED,
    });
    expect(await isActive(session.token)).toBe(false);
    expect(await isActive(adminKey2.token)).toBe(false);
    expect(await isActive(other.token)).toBe(true);
    expect(await isActive(t.adminKey)).toBe(true);

    // Watchers hear a revoke.
    await w.until(
      (m) =>
        m.event.case === "invalidation" &&
        m.event.value.kind === InvalidationKind.KEY_REVOKED &&
        m.event.value.keyId === live.id,
      5000,
      "KEY_REVOKED",
    );

    // ListKeys shows why and where.
    const listed = (await t.grpc.listKeys({ tenantId: "leak-a" }, admin())).keys.find((k) => k.id === live.id)!;
    expect(listed.status).toBe(KeyStatus.REVOKED);
    expect(listed.revokedBy).toBe("system:secret-scanning");
    expect(listed.exposure).toMatchObject({
      type: "warpflow_api_key",
      source: "commit",
      url: "https://github.com/octo/leaky/blob/0123abc/.env",
    });
    expect(listed.exposure!.reportedAt).toBeDefined();
    const plainRevoked = (await t.grpc.listKeys({ tenantId: "leak-a" }, admin())).keys.find(
      (k) => k.id === revoked.id,
    )!;
    expect(plainRevoked.exposure).toBeUndefined();

    // The CLI's table says so too.
    const cli = await runCliInProcess(["keys", "list", "--tenant", "leak-a"], {
      stdin: "",
      env: { WARPFLOW_URL: t.baseUrl, WARPFLOW_ADMIN_KEY: t.adminKey },
    });
    expect(cli.code, cli.stderr).toBe(0);
    const row = cli.stdout.split("\n").find((l) => l.startsWith(live.id))!;
    expect(row).toMatch(/ exposed in commit \(https:\/\/github\.com\/octo\/leaky\/blob\/0123abc\/\.env\), revoked /);
    const plainRow = cli.stdout.split("\n").find((l) => l.startsWith(revoked.id))!;
    expect(plainRow).not.toContain("exposed");

    // The audit trail: one key.exposed per revoked key, with the report, by the scanner.
    const exposed = (await t.grpc.listAuditEvents({ tenantId: "leak-a", action: AuditAction.KEY_EXPOSED }, admin()))
      .events;
    expect(exposed).toHaveLength(1);
    expect(exposed[0]).toMatchObject({
      keyId: live.id,
      code: "OK",
      actor: { kind: AuditActorKind.SERVICE, id: "secret-scanning" },
      peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      detail: "type=warpflow_api_key source=commit url=https://github.com/octo/leaky/blob/0123abc/.env",
    });
    expect(listed.exposure!.auditEventId).toBe(exposed[0]!.id); // ListKeys -> the audit event
    const adminExposed = (await t.grpc.listAuditEvents({ tenantId: "admin", action: AuditAction.KEY_EXPOSED }, admin()))
      .events;
    expect(adminExposed.map((e) => e.keyId)).toEqual([adminKey2.key!.id]);
    const sessionEvents = (
      await t.grpc.listAuditEvents({ tenantId: "leak-a", action: AuditAction.SESSION_REVOKE }, admin())
    ).events;
    expect(sessionEvents[0]).toMatchObject({
      sessionId: session.sessionId,
      detail: expect.stringMatching(/^exposed: type=warpflow_session /),
    });

    // No token anywhere: the answer, the audit events, the whole server output.
    const audit = JSON.stringify(
      [
        ...(await t.grpc.listAuditEvents({ tenantId: "leak-a" }, admin())).events,
        ...(await t.grpc.listAuditEvents({ tenantId: "admin" }, admin())).events,
      ],
      (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v),
    );
    for (const token of [live.token, revoked.token, unknown, malformed, session.token, adminKey2.token]) {
      const secret = token.split("_").at(-1)!;
      expect(answer.text).not.toContain(secret);
      expect(audit).not.toContain(secret);
      expect(t.logs.join("\n")).not.toContain(secret);
    }
  });

  it("a leaked admin key takes the sessions it created with it (as RevokeKey does), also when reported again after it was revoked", async () => {
    const leaked = await t.grpc.createAdminKey({ label: "leaked-ci" }, admin());
    const s1 = await t.grpc.createSession({ tenantId: "leak-b" }, { bearer: leaked.token });
    const s2 = await t.grpc.createSession({ tenantId: "leak-c" }, { bearer: leaked.token });
    const bystander = await t.grpc.createSession({ tenantId: "leak-b" }, admin()); // another admin key's
    expect(await isActive(s1.token)).toBe(true); // cached on this instance
    const answer = await postAlert(t.baseUrl, alertBody([{ token: leaked.token, source: "npm" }]), signer);
    expect(answer.json).toEqual([
      { token_hash: sha256Hex(leaked.token), token_type: "warpflow_api_key", label: "true_positive" },
    ]);
    expect(await isActive(leaked.token)).toBe(false);
    expect(await isActive(s1.token)).toBe(false);
    expect(await isActive(s2.token)).toBe(false);
    expect(await isActive(bystander.token)).toBe(true);
    // A session the key minted that the first walk missed (stored meanwhile; here: written
    // straight to the store as the key's): a second report of the now revoked key walks again.
    const template = await t.grpc.createSession({ tenantId: "leak-d" }, admin());
    const stored = (await counting.store.findSessionByHash(hashToken(template.token)))!;
    const missedHash = hashToken(`${template.token}x`);
    await counting.store.insertSession({
      ...stored,
      id: `${stored.id}x`,
      tokenHash: missedHash,
      createdBy: leaked.key!.id,
    });
    const again = await postAlert(t.baseUrl, alertBody([{ token: leaked.token }]), signer);
    expect(again.json).toEqual([
      { token_hash: sha256Hex(leaked.token), token_type: "warpflow_api_key", label: "false_positive" },
    ]);
    expect((await counting.store.findSessionByHash(missedHash))?.revokedAt).toBeDefined();
    expect((await counting.store.findSessionByHash(hashToken(template.token)))?.revokedAt).toBeUndefined();
  });

  it("over HTTP/2 (GitHub's sample request is HTTP/2): the same verification and answer", async () => {
    const key = await newKey("leak-h2");
    const body = alertBody([{ token: key.token }]);
    const headers = {
      ":path": "/api/v1/secret-scanning/alerts",
      "content-type": "application/json",
      "github-public-key-identifier": signer.id,
    };
    const refused = await h2Exchange(
      t.port,
      { ...headers, "github-public-key-signature": signBody(`${body} `, signer) },
      body,
    );
    expect(refused.status).toBe(401);
    expect(await isActive(key.token)).toBe(true);
    const ok = await h2Exchange(t.port, { ...headers, "github-public-key-signature": signBody(body, signer) }, body);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body.toString())).toEqual([
      { token_hash: sha256Hex(key.token), token_type: "warpflow_api_key", label: "true_positive" },
    ]);
    expect(await isActive(key.token)).toBe(false);
  });

  it("never reads the store for a malformed token, and reads once per distinct well-formed one", async () => {
    const key = await newKey("leak-b");
    const bad = Array.from({ length: 200 }, (_, i) => ({ token: `wf_leak-b_${String(i).padStart(38, "x")}` }));
    const reads = () => (counting.counts.findKeyByHash ?? 0) + (counting.counts.findSessionByHash ?? 0);
    const before = reads();
    const answer = await postAlert(t.baseUrl, alertBody([...bad, { token: `${key.token.slice(0, -1)}!` }]), signer);
    expect(answer.status).toBe(200);
    expect((answer.json as { label: string }[]).every((f) => f.label === "false_positive")).toBe(true);
    expect(reads()).toBe(before);
    const unknown = generateToken("api_key", "leak-b");
    await postAlert(t.baseUrl, alertBody([{ token: unknown }, { token: unknown }, { token: unknown }]), signer);
    expect(reads()).toBe(before + 1);
    expect(await isActive(key.token)).toBe(true);
  });

  it("answers a batch of 1,000 matches (live, unknown, malformed) well within GitHub's timeout", async () => {
    const live: string[] = [];
    for (let i = 0; i < 10; i++) for (let j = 0; j < 3; j++) live.push((await newKey(`bulk-${i}`)).token);
    const matches = [
      ...live.map((token) => ({ token })),
      ...Array.from({ length: 670 }, () => ({ token: generateToken("api_key", "bulk-x") })),
      ...Array.from({ length: 300 }, (_, i) => ({ token: `wf_bulk-y_${String(i).padStart(38, "0")}` })),
    ];
    const body = alertBody(matches);
    const started = performance.now();
    const answer = await postAlert(t.baseUrl, body, signer);
    const ms = performance.now() - started;
    expect(answer.status).toBe(200);
    const labels = answer.json as { label: string }[];
    expect(labels).toHaveLength(1000);
    expect(labels.filter((l) => l.label === "true_positive")).toHaveLength(30);
    for (const token of live) expect(await isActive(token)).toBe(false);
    // "Well within": GitHub does not publish its timeout; its webhooks give 10 s (README, which gives 0.14-0.21 s).
    expect(ms).toBeLessThan(10_000);
    console.log(
      `secret-scanning: 1,000 matches (30 live keys revoked, 670 unknown looked up, 300 malformed), ${body.length} bytes: answered in ${ms.toFixed(0)} ms (embedded store)`,
    );
  });

  it("answers 1,000 matches that are all live keys (the most work per match) and revokes every one", async () => {
    // Keys stored directly (1,000 CreateKey calls would only time the admin API): 334 tenants x 3.
    const tokens: string[] = [];
    for (let i = 0; tokens.length < 1000; i++) {
      const tenantId = `bulk-live-${Math.floor(i / 3)}`;
      const token = generateToken("api_key", tenantId);
      const r = await t.app.store.insertKey(
        {
          id: newKeyId(),
          tenantId,
          label: "bulk",
          tokenHash: hashToken(token),
          hint: tokenHint(token, "api_key", tenantId),
          status: "active",
          createdAt: clock.now(),
          createdBy: "test",
        },
        3,
      );
      expect(r.ok).toBe(true);
      tokens.push(token);
    }
    const body = alertBody(tokens.map((token) => ({ token })));
    const started = performance.now();
    const answer = await postAlert(t.baseUrl, body, signer);
    const ms = performance.now() - started;
    expect(answer.status).toBe(200);
    expect(answer.json).toHaveLength(1000); // `every` below holds for an empty answer too
    expect((answer.json as { label: string }[]).every((l) => l.label === "true_positive")).toBe(true);
    expect(ms).toBeLessThan(10_000); // README: 0.66-0.81 s; GitHub's webhooks give 10 s
    expect(await isActive(tokens[0]!)).toBe(false);
    expect(await isActive(tokens[999]!)).toBe(false);
    console.log(
      `secret-scanning: 1,000 matches, all live keys (1,000 revokes + 2,000 audit writes), ${body.length} bytes: answered in ${ms.toFixed(0)} ms (embedded store)`,
    );
  });
});

describe("a request that does not verify is 401 and changes nothing", () => {
  let key: { token: string; id: string; tenantId: string };
  let body: string;
  beforeAll(async () => {
    key = await newKey("leak-c");
    body = alertBody([{ token: key.token }]);
  });
  afterEach(async () => {
    expect(await isActive(key.token)).toBe(true);
    const events = await t.grpc.listAuditEvents({ tenantId: "leak-c", action: AuditAction.KEY_EXPOSED }, admin());
    expect(events.events).toHaveLength(0);
  });

  it("signed by another key under the listed identifier", async () => {
    const a = await postAlert(t.baseUrl, body, stranger);
    expect(a.status).toBe(401);
    expect(a.json).toEqual({ error: { code: "unauthenticated", message: "signature does not verify" } });
  });

  it("a tampered body (one byte changed after signing)", async () => {
    const tampered = body.replace('"source":"content"', '"source":"contenT"');
    const a = await postAlert(t.baseUrl, tampered, undefined, {
      "github-public-key-identifier": signer.id,
      "github-public-key-signature": signBody(body, signer),
    });
    expect(a.status).toBe(401);
  });

  it("a re-serialised body: the same JSON in other bytes", async () => {
    const reserialised = JSON.stringify(JSON.parse(body), null, 2);
    expect(JSON.parse(reserialised)).toEqual(JSON.parse(body));
    const a = await postAlert(t.baseUrl, reserialised, undefined, {
      "github-public-key-identifier": signer.id,
      "github-public-key-signature": signBody(body, signer),
    });
    expect(a.status).toBe(401);
  });

  it("no signature headers, a signature that is not base64 DER, an unknown identifier", async () => {
    expect((await postAlert(t.baseUrl, body, undefined)).status).toBe(401);
    const notDer = await postAlert(t.baseUrl, body, undefined, {
      "github-public-key-identifier": signer.id,
      "github-public-key-signature": Buffer.from("not a signature").toString("base64"),
    });
    expect(notDer.status).toBe(401);
    const unknownId = await postAlert(t.baseUrl, body, newSigner());
    expect(unknownId).toMatchObject({ status: 401, json: { error: { message: "unknown public key identifier" } } });
  });

  it("a refusal logs at debug, not info, and a GET without the headers is such a refusal: a stranger sends them for free (review finding)", async () => {
    const refusedLines = () =>
      t.logs
        .map((l) => JSON.parse(l) as { rpc?: string; code?: string; level?: number })
        .filter((l) => l.rpc === "SecretScanningAlert" && l.code === "unauthenticated");
    const before = refusedLines().length;
    expect((await postAlert(t.baseUrl, body, undefined)).status).toBe(401);
    expect((await postAlert(t.baseUrl, body, stranger)).status).toBe(401);
    expect((await postAlert(t.baseUrl, body, newSigner())).status).toBe(401);
    // A GET without the headers (a scanner): 401 too, not a 405 logged at info.
    expect((await fetch(`${t.baseUrl}/api/v1/secret-scanning/alerts`)).status).toBe(401);
    await waitUntil(() => refusedLines().length >= before + 4);
    const lines = refusedLines().slice(before);
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l.level).toBe(20);
  });

  it("a body over SECRET_SCANNING_MAX_BODY_BYTES is 413, unread", async () => {
    const big = alertBody([{ token: key.token, url: `https://github.com/${"x".repeat(300_000)}` }]);
    const a = await postAlert(t.baseUrl, big, signer);
    expect(a.status).toBe(413);
  });

  it("bodies held open are bounded: past MAX_ALERTS_IN_FLIGHT the next alert is 503 unread, and the endpoint recovers (attack finding)", async () => {
    // Each held request declares a body under the limit and sends most of it: its bytes are buffered.
    const declared = 200_000;
    const held: net.Socket[] = [];
    for (let i = 0; i < MAX_ALERTS_IN_FLIGHT; i++) {
      // From 4 other addresses, 2 each (one address holds at most MAX_ALERTS_IN_FLIGHT_PER_ADDRESS).
      const sock = net.connect({ port: t.port, host: "127.0.0.1", localAddress: `127.0.0.${2 + (i % 4)}` });
      await new Promise<void>((done) => sock.once("connect", () => done()));
      sock.write(
        `POST /api/v1/secret-scanning/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Github-Public-Key-Identifier: ${signer.id}\r\nGithub-Public-Key-Signature: AAAA\r\n` +
          `Content-Length: ${declared}\r\n\r\n${"x".repeat(declared - 10)}`,
      );
      held.push(sock);
    }
    await waitUntil(async () => (await postAlert(t.baseUrl, "[]", signer)).status === 503, 5000);
    const refused = await postAlert(t.baseUrl, "[]", signer);
    expect(refused).toMatchObject({ status: 503, json: { error: { code: "unavailable" } } });
    for (const sock of held) sock.destroy();
    await waitUntil(async () => (await postAlert(t.baseUrl, "[]", signer)).status === 200, 5000);
  });

  it("slow senders cannot keep real alerts out: a body not received within ALERT_BODY_DEADLINE_MS is 408 and frees its place (review finding)", async () => {
    // Eight strangers with forged signature headers trickle their bodies and never finish.
    const held: net.Socket[] = [];
    for (let i = 0; i < MAX_ALERTS_IN_FLIGHT; i++) {
      // From 4 other addresses, 2 each (one address holds at most MAX_ALERTS_IN_FLIGHT_PER_ADDRESS).
      const sock = net.connect({ port: t.port, host: "127.0.0.1", localAddress: `127.0.0.${2 + (i % 4)}` });
      await new Promise<void>((done) => sock.once("connect", () => done()));
      sock.on("error", () => {});
      sock.write(
        `POST /api/v1/secret-scanning/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Github-Public-Key-Identifier: ${signer.id}\r\nGithub-Public-Key-Signature: AAAA\r\n` +
          `Content-Length: 1000\r\n\r\n[`,
      );
      held.push(sock);
    }
    try {
      await waitUntil(async () => (await postAlert(t.baseUrl, "[]", signer)).status === 503, 3000);
      // Still trickling, still connected: the deadline frees the places, and a real alert gets in.
      const started = Date.now();
      await waitUntil(
        async () => (await postAlert(t.baseUrl, "[]", signer)).status === 200,
        ALERT_BODY_DEADLINE_MS + 5000,
      );
      expect(Date.now() - started).toBeLessThan(ALERT_BODY_DEADLINE_MS + 5000);
    } finally {
      for (const sock of held) sock.destroy();
    }
  });

  it("one unreadable match does not fail the batch: it is left out, the others are judged and revoked (review finding)", async () => {
    const first = await newKey("leak-split");
    const second = await newKey("leak-split");
    const unknown = generateToken("api_key", "leak-split");
    // Signed as GitHub signs: the exact bytes. Entries without a string token cannot be judged or
    // hashed (GitHub's feedback is keyed by token_hash): left out. A non-string description reads as "".
    const body = JSON.stringify([
      { token: first.token, type: "warpflow_api_key", url: "https://github.com/octo/a", source: "commit" },
      { token: 42, type: "warpflow_api_key", url: "https://github.com/octo/b", source: "commit" },
      { type: "warpflow_api_key", url: "https://github.com/octo/c", source: "commit" },
      "not a match",
      null,
      [first.token],
      { token: second.token, type: "warpflow_api_key", url: 7, source: { kind: "commit" } },
      { token: unknown, type: "warpflow_api_key", url: "https://github.com/octo/d", source: "commit" },
    ]);
    const answer = await postAlert(t.baseUrl, body, signer);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual([
      { token_hash: sha256Hex(first.token), token_type: "warpflow_api_key", label: "true_positive" },
      { token_hash: sha256Hex(second.token), token_type: "warpflow_api_key", label: "true_positive" },
      { token_hash: sha256Hex(unknown), token_type: "warpflow_api_key", label: "false_positive" },
    ]);
    expect(await isActive(first.token)).toBe(false);
    expect(await isActive(second.token)).toBe(false);
    const listed = (await t.grpc.listKeys({ tenantId: "leak-split" }, admin())).keys.find((k) => k.id === second.id)!;
    expect(listed.exposure).toMatchObject({ type: "warpflow_api_key", url: "", source: "" });
  });

  it("a verified array of more than MAX_ALERT_MATCHES entries is 400 and changes nothing", async () => {
    const live = await newKey("leak-bound");
    const entries = [{ token: live.token }, ...Array.from({ length: MAX_ALERT_MATCHES }, () => ({}))];
    const a = await postAlert(t.baseUrl, JSON.stringify(entries), signer);
    expect(a.status).toBe(400);
    expect(a.text).toContain(`at most ${MAX_ALERT_MATCHES} matches`);
    expect(await isActive(live.token)).toBe(true);
    // At the bound: answered.
    const atBound = await postAlert(t.baseUrl, JSON.stringify(entries.slice(0, MAX_ALERT_MATCHES)), signer);
    expect(atBound.status).toBe(200);
    expect(await isActive(live.token)).toBe(false);
  });

  it("a verified body that is not the format is 400 and names no value", async () => {
    const notArray = JSON.stringify({ token: key.token });
    const a = await postAlert(t.baseUrl, notArray, signer);
    expect(a.status).toBe(400);
    expect(a.text).not.toContain(key.token.split("_").at(-1)!);
  });
});

describe("key rotation with a key list file", () => {
  it("reads the file again when an alert names an identifier it lacks (once per interval)", async () => {
    const key = await newKey("leak-d");
    const rotated = newSigner();
    writeFileSync(listFile, keyList(rotated, signer));
    clock.advance(11_000); // past SECRET_SCANNING_KEYS_REFETCH_INTERVAL_MS (10 s)
    const a = await postAlert(t.baseUrl, alertBody([{ token: key.token }]), rotated);
    expect(a.status).toBe(200);
    expect(await isActive(key.token)).toBe(false);
    // Within the interval a newer identifier waits for the next one.
    const later = newSigner();
    writeFileSync(listFile, keyList(later, rotated, signer));
    const key2 = await newKey("leak-d");
    expect((await postAlert(t.baseUrl, alertBody([{ token: key2.token }]), later)).status).toBe(401);
    clock.advance(11_000);
    expect((await postAlert(t.baseUrl, alertBody([{ token: key2.token }]), later)).status).toBe(200);
  });
});

describe("deprecated keys (rotated, in their 72-hour grace)", () => {
  it("a deprecated key still in its grace is live: revoked at once; one whose grace has ended is a false positive", async () => {
    const a = await newKey("leak-e");
    const b = await newKey("leak-e");
    await t.grpc.rotateKey({ tenantId: "leak-e", keyId: a.id }, admin());
    const inGrace = await postAlert(t.baseUrl, alertBody([{ token: a.token }]), signer);
    expect((inGrace.json as { label: string }[])[0]!.label).toBe("true_positive");
    expect(await isActive(a.token)).toBe(false);
    await t.grpc.rotateKey({ tenantId: "leak-e", keyId: b.id }, admin());
    clock.advance(73 * 3600_000); // past the grace: revoked as of revoke_at, whether or not the sweep ran
    const ended = await postAlert(t.baseUrl, alertBody([{ token: b.token }]), signer);
    expect((ended.json as { label: string }[])[0]!.label).toBe("false_positive");
    const events = await t.grpc.listAuditEvents({ tenantId: "leak-e", action: AuditAction.KEY_EXPOSED }, admin());
    expect(events.events.map((e) => e.keyId)).toEqual([a.id]);
  });
});

describe("disabled", () => {
  it("is 404 like any unknown path unless SECRET_SCANNING_ENABLED", async () => {
    const off = await startTestApp();
    try {
      const a = await postAlert(off.baseUrl, "[]", signer);
      expect(a.status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
