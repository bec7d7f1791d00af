import * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { IntrospectRequestSchema, IntrospectResponseSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createTestPki, hasOpenssl, type TestPki } from "../support/certs.js";
import { createFaultyStore, type FaultyStore } from "../support/faulty-store.js";
import { createGrpcTokenClient } from "../support/grpc-client.js";
import { startH2Tap } from "../support/h2-tap.js";
import { h2Exchange, h2Request } from "../support/h2-request.js";
import { pollUntil, sleep, waitUntil } from "../support/poll.js";
import { holdRaw, lengthPrefixed } from "../support/raw-socket.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * MAX_CONNECTION_AGE_MS / MAX_CONNECTION_AGE_GRACE_MS (gRPC's max_connection_age semantics) on
 * every protocol of the one port: after the age (±10%) an HTTP/2 connection gets GOAWAY, the calls
 * open on it finish, the client's next call goes over a new connection; whatever is still open
 * after the grace is closed. HTTP/1.1 keep-alive connections close after their next response.
 */
const AGE_MS = 1000;
/** Earliest a GOAWAY may come after the client opened the connection (age - 10%, less a margin). */
const EARLIEST_MS = AGE_MS * 0.9 - 50;
/** Latest (age + 10%, plus a generous margin for a busy machine). */
const LATEST_MS = 5000;

const opensslMissing = !hasOpenssl();
if (opensslMissing) console.log("connection age: the TLS case is skipped: the openssl CLI is not installed");

let app: TestApp; // long grace: calls in flight at the age have time to finish
let faulty: FaultyStore;
let token: string;
let pki: TestPki | undefined;
let tlsApp: TestApp | undefined;
const ageEnv = { MAX_CONNECTION_AGE_MS: String(AGE_MS), MAX_CONNECTION_AGE_GRACE_MS: "20000" };
beforeAll(async () => {
  faulty = createFaultyStore(createMemoryTokenStore());
  app = await startTestApp({
    store: faulty.store,
    env: { ...ageEnv, STORE_TIMEOUT_MS: "20000", CACHE_TTL_MS: "0", HTTP_KEEPALIVE_TIMEOUT_MS: "60000" },
  });
  token = (await app.grpc.createKey({ tenantId: "acme", label: "age" }, { bearer: app.adminKey })).token;
  if (!opensslMissing) {
    pki = createTestPki();
    tlsApp = await startTestApp({
      store: faulty.store,
      env: { ...ageEnv, TLS_CERT_FILE: pki.serverCertFile, TLS_KEY_FILE: pki.serverKeyFile },
    });
  }
}, 30_000);
afterAll(async () => {
  faulty?.heal();
  await app?.close();
  await tlsApp?.close();
});

/** Holds the store's key lookups (a slow store) so an Introspect stays in flight; `release` lets them through. */
function holdLookups() {
  faulty.setMode({ kind: "stall" }, ["findKeyByHash"]);
  return { release: () => faulty.heal({ stalled: "apply" }) };
}

describe("native gRPC (grpc-js client, through a tap that reads the server's frames)", () => {
  it("an Introspect in flight at the age completes after the GOAWAY; the client reconnects and its next call succeeds", async () => {
    const tap = await startH2Tap(app.port);
    const client = createGrpcTokenClient(`127.0.0.1:${tap.port}`);
    try {
      expect((await client.introspect({ token })).active).toBe(true);
      const held = holdLookups();
      const inFlight = client.introspect({ token }, { deadlineMs: 20_000 });
      await waitUntil(() => faulty.stalledNow() === 1, 5000, "the Introspect reached the store");
      await waitUntil(() => tap.connections[0]!.goaways.length > 0, LATEST_MS, "a GOAWAY");
      const first = tap.connections[0]!;
      expect(first.goaways[0]!.errorCode).toBe(0); // NO_ERROR: go away politely, not an error
      expect(first.goaways[0]!.at - first.openedAt).toBeGreaterThanOrEqual(EARLIEST_MS);
      expect(first.closedAt).toBeUndefined(); // the call in flight keeps the connection open
      held.release();
      expect((await inFlight).active).toBe(true);
      // The next call: over a new connection, since the old one is going away.
      expect((await client.introspect({ token })).active).toBe(true);
      expect(tap.connections.length).toBeGreaterThanOrEqual(2);
      expect(await pollUntil(() => first.closedAt !== undefined, 5000)).toBe(true);
    } finally {
      faulty.heal();
      client.close();
      await tap.close();
    }
  });
});

type Case = { name: string; tls: boolean; headers: http2.OutgoingHttpHeaders; body: () => Buffer };
const connectJson: Case["headers"] = {
  ":path": "/warpflow.auth.v1.TokenService/Introspect",
  "content-type": "application/json",
};
const grpcWeb: Case["headers"] = {
  ":path": "/warpflow.auth.v1.TokenService/Introspect",
  "content-type": "application/grpc-web+proto",
};
const introspectFrame = () =>
  lengthPrefixed(toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token })));
const cases: Case[] = [
  {
    name: "Connect JSON over h2c",
    tls: false,
    headers: connectJson,
    body: () => Buffer.from(JSON.stringify({ token })),
  },
  { name: "gRPC-Web over h2c", tls: false, headers: grpcWeb, body: introspectFrame },
  {
    name: "Connect JSON over TLS (ALPN h2)",
    tls: true,
    headers: connectJson,
    body: () => Buffer.from(JSON.stringify({ token })),
  },
];
const activeOf = (c: Case, body: Buffer) =>
  c.headers["content-type"] === "application/json"
    ? (JSON.parse(body.toString()) as { active?: boolean }).active
    : fromBinary(IntrospectResponseSchema, body.subarray(5, 5 + body.readUInt32BE(1))).active;

describe.each(cases)("$name (Node's http2 client)", (c) => {
  it.skipIf(c.tls && opensslMissing)(
    "a request in flight at the age completes after the GOAWAY; a new connection serves the next one",
    async () => {
      const target = c.tls ? tlsApp! : app;
      const url = `${c.tls ? "https" : "http"}://127.0.0.1:${target.port}`;
      const options = c.tls ? { ca: pki!.ca, servername: "localhost" } : undefined;
      const openedAt = Date.now();
      const call = h2Request(url, c.headers, undefined, options);
      const goaway = new Promise<{ at: number; code: number }>((resolve) =>
        call.session.once("goaway", (code: number) => resolve({ at: Date.now(), code })),
      );
      const body = c.body();
      call.stream.write(body.subarray(0, 3)); // the request is open on the server, its body incomplete
      const got = await Promise.race([goaway, sleep(LATEST_MS).then(() => undefined)]);
      expect(got, "a GOAWAY within the age").toBeDefined();
      expect(got!.code).toBe(0);
      expect(got!.at - openedAt).toBeGreaterThanOrEqual(EARLIEST_MS);
      call.stream.end(body.subarray(3));
      const answer = await call.done;
      expect(answer.error).toBeUndefined();
      expect(answer.status).toBe(200);
      expect(activeOf(c, answer.body)).toBe(true);
      // The old session refuses new streams now; a new connection answers.
      const next = await h2Exchange(url, c.headers, c.body(), options);
      expect(next.status).toBe(200);
      expect(activeOf(c, next.body)).toBe(true);
    },
  );
});

describe("after the grace", () => {
  it("a call still open at age + grace is closed (HTTP/2 and HTTP/1.1)", async () => {
    const short = await startTestApp({
      env: { MAX_CONNECTION_AGE_MS: String(AGE_MS), MAX_CONNECTION_AGE_GRACE_MS: "500" },
    });
    try {
      const h2 = h2Request(short.port, {
        ":path": "/warpflow.auth.v1.TokenService/Introspect",
        "content-type": "application/grpc",
        te: "trailers",
      });
      let goawayAt = 0;
      h2.session.once("goaway", () => (goawayAt = Date.now()));
      h2.stream.write(introspectFrame().subarray(0, 3)); // never finished
      const http1 = holdRaw(
        short.port,
        "POST /warpflow.auth.v1.TokenService/Introspect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
      );
      const [answer, http1ClosedMs] = await Promise.all([h2.done, http1.closed]);
      expect(goawayAt).toBeGreaterThan(0);
      expect(answer.grpcStatus).toBeUndefined(); // cut, not answered
      expect(Date.now() - goawayAt).toBeGreaterThanOrEqual(400); // the grace was given
      expect(http1ClosedMs).toBeGreaterThanOrEqual(EARLIEST_MS + 400);
      expect(http1ClosedMs).toBeLessThan(LATEST_MS + 500);
      expect(http1.received()).toBe(""); // no answer: the request never completed
    } finally {
      await short.close();
    }
  });
});

describe("HTTP/1.1 keep-alive", () => {
  const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
  it("a request answered after the age closes its connection (Connection: close); before it, the connection stays", async () => {
    const body = JSON.stringify({ token });
    const held = holdRaw(app.port, request("/healthz"));
    await held.until((d) => d.includes("\r\n\r\n"));
    expect(held.received()).not.toMatch(/connection: close/i);
    held.socket.write(
      `POST /warpflow.auth.v1.TokenService/Introspect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 3)}`,
    );
    await sleep(AGE_MS * 1.1 + 200); // past the age; the request is in flight
    held.socket.write(body.slice(3));
    const closedMs = await held.closed;
    const second = held.received().slice(held.received().indexOf("HTTP/1.1 200", 5));
    expect(second).toMatch(/^HTTP\/1\.1 200 /);
    expect(second).toMatch(/connection: close/i);
    expect(second).toMatch(/"active":true/);
    expect(closedMs).toBeLessThan(10_000); // closed after its response, not by the 60 s keep-alive timeout
  });

  it("an idle keep-alive connection is closed at its age, long before the keep-alive timeout", async () => {
    const held = holdRaw(app.port, request("/healthz"));
    await held.until((d) => d.includes("\r\n\r\n"));
    const closedMs = await Promise.race([held.closed, sleep(LATEST_MS).then(() => Infinity)]);
    expect(closedMs).toBeGreaterThanOrEqual(EARLIEST_MS);
    expect(closedMs).toBeLessThan(LATEST_MS);
  });
});

describe("MAX_CONNECTION_AGE_MS=0", () => {
  it("is off: no GOAWAY and no close on either protocol past what the age would have been", async () => {
    const off = await startTestApp({ env: { MAX_CONNECTION_AGE_MS: "0", HTTP_KEEPALIVE_TIMEOUT_MS: "60000" } });
    try {
      const session = http2.connect(`http://127.0.0.1:${off.port}`);
      let goaway = false;
      session.on("goaway", () => (goaway = true));
      expect((await h2Exchange(session, { ":path": "/healthz", ":method": "GET" })).status).toBe(200);
      const held = holdRaw(off.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      await held.until((d) => d.includes("\r\n\r\n"));
      await sleep(AGE_MS * 1.1 + 500);
      expect(goaway).toBe(false);
      expect((await h2Exchange(session, { ":path": "/healthz", ":method": "GET" })).status).toBe(200);
      held.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      expect(await pollUntil(() => held.received().split("HTTP/1.1 200").length === 3, 3000)).toBe(true);
      session.close();
      held.socket.destroy();
    } finally {
      await off.close();
    }
  });
});
