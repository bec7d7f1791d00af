import { describe, expect, it } from "vitest";
import { bufCurl } from "../support/buf-curl.js";
import { sleep } from "../support/poll.js";
import { useTestApp } from "../support/test-app.js";

/**
 * buf curl (an outside client, schema from server reflection only) subscribes to
 * WatchInvalidations on each protocol and prints a revoke's invalidation. The stream does not end
 * by itself: buf's --timeout ends it after the revoke.
 */
const t = useTestApp({ env: { WATCH_HEARTBEAT_MS: "200" }, logLevel: "warn" });

describe.each([
  ["grpc", ["--http2-prior-knowledge"]],
  ["connect", []],
  ["grpcweb", []],
])("buf curl --protocol %s", (protocol, extra) => {
  it("streams the START reset, heartbeats and the revoke's invalidation", async () => {
    const curl = bufCurl(
      [
        "--protocol",
        protocol,
        ...extra,
        "--reflect-protocol",
        "grpc-v1",
        "--timeout",
        "3s",
        "-d",
        "{}",
        `${t.baseUrl}/warpflow.auth.v1.TokenService/WatchInvalidations`,
      ],
      { timeoutMs: 20_000 },
    );
    await sleep(1500);
    const tenantId = `curl-${protocol}`;
    const { key } = await t.grpc.createKey({ tenantId, label: "w" }, { bearer: t.adminKey });
    await t.grpc.revokeKey({ tenantId, keyId: key!.id }, { bearer: t.adminKey });
    const r = await curl;
    const messages = r.stdout
      .split(/\n(?=\{)/)
      .filter((s) => s.trim())
      .map((s) => JSON.parse(s) as Record<string, Record<string, unknown>>);
    expect(messages[0]?.reset, r.stderr).toEqual({ reason: "RESET_REASON_START" });
    expect(messages.some((m) => m.heartbeat?.complete === true && m.heartbeat.intervalMs === 200)).toBe(true);
    expect(messages).toContainEqual(
      expect.objectContaining({
        invalidation: { kind: "INVALIDATION_KIND_KEY_REVOKED", tenantId, keyId: key!.id },
      }),
    );
    expect(r.code, "buf curl ended by its own --timeout, not killed").not.toBe(-1);
  });
});
