// Attack finding: 8 strangers trickling alert bodies kept every real GitHub alert out (503). The
// signature headers cost nothing to forge and the body was read before the key identifier was
// checked; each trickler held one of the MAX_ALERTS_IN_FLIGHT places until ALERT_BODY_DEADLINE_MS,
// then reconnected at once (measured on the old code: 59 of 59 real alerts 503 over 12 s). Now a
// made-up identifier is 401 before the body is read, and one client address holds at most
// MAX_ALERTS_IN_FLIGHT_PER_ADDRESS places. The attackers are raw sockets from other loopback
// addresses (127.0.0.2-5); the real alerts come from 127.0.0.1.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { MAX_ALERTS_IN_FLIGHT } from "../../src/transport/http/secret-scanning-alerts.js";
import { sleep } from "../support/poll.js";
import { holdRaw, type HeldSocket } from "../support/raw-socket.js";
import { ALERTS_PATH, keyList, newSigner, postAlert } from "../support/secret-scanning.js";
import { useTestApp } from "../support/test-app.js";

const dir = mkdtempSync(join(tmpdir(), "wf-scan-lockout-"));
const listFile = join(dir, "keys.json");
const signer = newSigner();
writeFileSync(listFile, keyList(signer));

const t = useTestApp({
  env: {
    SECRET_SCANNING_ENABLED: "true",
    SECRET_SCANNING_KEYS_FILE: listFile,
  },
});

/**
 * One slow sender as in the finding: forged signature headers, `content-length: 1000`, one body
 * byte every 300 ms; whenever it is answered or cut off it reconnects at once. Returns a stop function.
 */
function trickler(localAddress: string, keyIdentifier: string): { stop(): void; answered(): number } {
  let stopped = false;
  let held: HeldSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  let answers = 0;
  const connect = () => {
    if (stopped) return;
    const mine = holdRaw(
      t.port,
      `POST ${ALERTS_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Github-Public-Key-Identifier: ${keyIdentifier}\r\nGithub-Public-Key-Signature: AAAA\r\n` +
        `Content-Length: 1000\r\n\r\n[`,
      { localAddress },
    );
    held = mine;
    let again = false;
    const reconnect = () => {
      if (again) return;
      again = true;
      clearInterval(timer);
      mine.socket.destroy();
      setImmediate(connect);
    };
    void mine.connected.then(() => {
      timer = setInterval(() => {
        if (!mine.socket.destroyed) mine.socket.write(" ");
      }, 300);
    });
    void mine
      .until((d) => d.startsWith("HTTP/1.1 "))
      .then(() => {
        if (mine.received().startsWith("HTTP/1.1 ")) answers++;
        reconnect();
      });
    void mine.closed.then(reconnect);
  };
  connect();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      held?.socket.destroy();
    },
    answered: () => answers,
  };
}

const attackers: { stop(): void; answered(): number }[] = [];
afterEach(() => attackers.splice(0).forEach((a) => a.stop()));

/** A correctly signed `[]` alert every 200 ms for `ms`; the statuses. */
async function realAlerts(ms: number): Promise<number[]> {
  const answers: Promise<number>[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    answers.push(
      postAlert(t.baseUrl, "[]", signer).then(
        (a) => a.status,
        () => 0,
      ),
    );
    await sleep(200);
  }
  return Promise.all(answers);
}

const summary = (statuses: number[]) => {
  const by: Record<number, number> = {};
  for (const s of statuses) by[s] = (by[s] ?? 0) + 1;
  return by;
};

beforeAll(async () => {
  expect((await postAlert(t.baseUrl, "[]", signer)).status).toBe(200);
});

describe("slow senders cannot keep GitHub's alerts out (attack finding)", () => {
  it("8 trickling senders from 4 addresses naming a made-up key identifier: refused (401) before the body, real alerts 200", async () => {
    for (let i = 0; i < MAX_ALERTS_IN_FLIGHT; i++) attackers.push(trickler(`127.0.0.${2 + (i % 4)}`, `forged-${i}`));
    await sleep(500); // every trickler has sent its headers (on the old code: every place is held)
    const statuses = await realAlerts(6000);
    const by = summary(statuses);
    console.log(`secret-scanning lockout, made-up identifiers: real alerts by status ${JSON.stringify(by)}`);
    expect(statuses.length).toBeGreaterThan(15);
    expect(by[503] ?? 0).toBe(0);
    expect(by[200] ?? 0).toBeGreaterThanOrEqual(Math.floor(statuses.length * 0.9));
    // The strangers were answered (401 at once), not left holding a place until the body deadline.
    expect(attackers.reduce((n, a) => n + a.answered(), 0)).toBeGreaterThan(MAX_ALERTS_IN_FLIGHT);
  }, 30_000);

  it("8 trickling senders from ONE address naming the real (public) key identifier hold at most 2 places: real alerts 200", async () => {
    for (let i = 0; i < MAX_ALERTS_IN_FLIGHT; i++) attackers.push(trickler("127.0.0.2", signer.id));
    await sleep(500);
    const statuses = await realAlerts(6000);
    const by = summary(statuses);
    console.log(
      `secret-scanning lockout, real identifier from one address: real alerts by status ${JSON.stringify(by)}`,
    );
    expect(statuses.length).toBeGreaterThan(15);
    expect(by[503] ?? 0).toBe(0);
    expect(by[200] ?? 0).toBeGreaterThanOrEqual(Math.floor(statuses.length * 0.9));
  }, 30_000);
});
