import * as http2 from "node:http2";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { pollUntil, sleep } from "../support/poll.js";
import { useTestApp } from "../support/test-app.js";

/**
 * HTTP/2 streams that never finish sending their request (attack finding, session 33): no
 * credential is needed to start a Connect unary call, and each stream held up to MAX_BODY_BYTES
 * until the request timeout. 250 connections x 100 streams from one address, each with 30 KB of a
 * declared 60 KB Introspect body, took RSS 92 -> 981 MiB in 15 s. HTTP/1.1 allows one such request
 * per connection, so MAX_CONNECTIONS_PER_ADDRESS of them; HTTP/2 now allows as many per address.
 */
const PER_ADDRESS = 8;
const t = useTestApp({ env: { MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS) } });
const sessions: http2.ClientHttp2Session[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.destroy();
});

function connect(localAddress = "127.0.0.1"): http2.ClientHttp2Session {
  const s = http2.connect(`http://127.0.0.1:${t.port}`, {
    createConnection: () => net.connect({ host: "127.0.0.1", port: t.port, localAddress }),
  });
  s.on("error", () => {});
  sessions.push(s);
  return s;
}

/** A Connect unary Introspect whose declared body is never finished; resolves to its reset code, if any. */
function halfSent(session: http2.ClientHttp2Session): { rst: () => number | undefined } {
  const s = session.request(
    {
      ":method": "POST",
      ":path": "/warpflow.auth.v1.TokenService/Introspect",
      "content-type": "application/json",
      "content-length": "60000",
    },
    { endStream: false },
  );
  s.on("error", () => {});
  s.write(Buffer.alloc(1000, 32));
  let code: number | undefined;
  s.on("close", () => (code = s.rstCode));
  return { rst: () => code };
}

function get(session: http2.ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ":path": path });
    s.on("response", (h) => resolve(Number(h[":status"])));
    s.on("error", reject);
    s.resume();
  });
}

describe("HTTP/2 streams still sending their request, per client address", () => {
  it(`one address holds at most MAX_CONNECTIONS_PER_ADDRESS (${PER_ADDRESS}); the rest are REFUSED_STREAM`, async () => {
    const attacker = [connect(), connect(), connect()];
    const streams = attacker.flatMap((c) => Array.from({ length: 10 }, () => halfSent(c)));
    const refused = () => streams.filter((s) => s.rst() === http2.constants.NGHTTP2_REFUSED_STREAM).length;
    await pollUntil(() => refused() >= streams.length - PER_ADDRESS, 5000);
    await sleep(300);
    expect(refused()).toBe(streams.length - PER_ADDRESS);
    expect(streams.filter((s) => s.rst() === undefined).length).toBe(PER_ADDRESS); // still open
    // A whole request (END_STREAM on its headers) from the same address is served meanwhile,
    // and another address still gets its half-sent place.
    expect(await get(connect(), "/readyz")).toBe(200);
    const other = halfSent(connect("127.0.0.2"));
    await sleep(300);
    expect(other.rst()).toBeUndefined();
    // The places come back when the streams close.
    for (const c of attacker) c.destroy();
    const again = connect();
    await sleep(200);
    const next = Array.from({ length: PER_ADDRESS }, () => halfSent(again));
    await sleep(300);
    expect(next.filter((s) => s.rst() !== undefined).length).toBe(0);
  });
});
