import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IntrospectRequestSchema, ListKeysRequestSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { holdRaw, http1ResponseComplete, lengthPrefixed, parseHttp1Response } from "../support/raw-socket.js";
import { spawnService, type ServiceProcess } from "../support/service-process.js";
import { sleep } from "../support/poll.js";
import { h2Request } from "../support/h2-request.js";

/**
 * Hostile header bytes around a real secret, on every protocol, against the real process; then the
 * WHOLE process output (stdout and stderr, dependencies' lines included) is searched for any
 * 12-character window of the secrets. Before the fix, `authorization: Bearer\t<admin key>` over
 * gRPC made grpc-js print the whole key to stderr, and the same header over Connect was accepted.
 * One bearer rule (RFC 6750: "Bearer", one or more spaces, a b64token) on every protocol: each
 * variant below is no credential at all, so every admin call answers UNAUTHENTICATED.
 */
const CALLER_TOKEN = "c7Q2xV9mK4pL8wZ1nR6tY3bH5jD0fG2sA9eU";
let svc: ServiceProcess;
beforeAll(async () => {
  svc = await spawnService({ env: { LOG_LEVEL: "debug", INTROSPECT_CALLER_TOKEN: CALLER_TOKEN } });
}, 30_000);
afterAll(() => svc?.kill());

const variants = (key: string): Record<string, Buffer> => ({
  tab: Buffer.from(`Bearer\t${key}`, "latin1"),
  "tab then space": Buffer.from(`Bearer\t ${key}`, "latin1"),
  "trailing no-break space": Buffer.concat([Buffer.from(`Bearer ${key}`, "latin1"), Buffer.from([0xa0])]),
  "leading no-break space": Buffer.concat([
    Buffer.from("Bearer", "latin1"),
    Buffer.from([0xa0]),
    Buffer.from(key, "latin1"),
  ]),
  "two tokens": Buffer.from(`Bearer ${key} ${key}`, "latin1"),
  "comma list": Buffer.from(`Bearer ${key}, Bearer ${key}`, "latin1"),
});

/** gRPC over HTTP/2, header value written as raw bytes (no client library would send these). */
async function grpcCall(
  port: number,
  path: string,
  body: Uint8Array,
  headers: Record<string, string>,
): Promise<string | undefined> {
  const answer = await h2Request(
    port,
    { ":path": path, "content-type": "application/grpc", te: "trailers", ...headers },
    lengthPrefixed(body),
  ).done;
  return answer.error?.startsWith("session") ? "session error" : answer.grpcStatus;
}

/** HTTP/1.1 with raw header bytes; resolves with the status line's code. */
async function http1Call(port: number, path: string, name: string, value: Buffer, body: string): Promise<number> {
  return (await http1Exchange(port, path, name, value, body)).status;
}

/** HTTP/1.1 with raw header bytes (plus `extra` header lines); resolves with the status and the whole body. */
function http1Exchange(
  port: number,
  path: string,
  name: string,
  value: Buffer,
  body: string,
  extra = "",
): Promise<{ status: number; body: string }> {
  const held = holdRaw(
    port,
    Buffer.concat([
      Buffer.from(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n${extra}${name}: `,
        "latin1",
      ),
      value,
      Buffer.from(`\r\n\r\n${body}`, "latin1"),
    ]),
  );
  return held.until(http1ResponseComplete).then((data) => {
    held.socket.destroy();
    return parseHttp1Response(data);
  });
}

/** Connect over HTTP/2 (Node's client refuses some bytes itself: then nothing was sent). */
async function http2ConnectCall(
  port: number,
  path: string,
  name: string,
  value: Buffer,
  body: string,
): Promise<number | "refused by client"> {
  let call;
  try {
    call = h2Request(
      port,
      { ":path": path, "content-type": "application/json", [name]: value.toString("latin1") },
      body,
    );
  } catch {
    return "refused by client";
  }
  const answer = await call.done;
  return answer.headers[":status"] === undefined ? 0 : answer.status;
}

const windows = (secret: string) => Array.from({ length: secret.length - 11 }, (_, i) => secret.slice(i, i + 12));

describe("no header byte reaches any output; one bearer rule everywhere", () => {
  it("every variant is UNAUTHENTICATED on gRPC, Connect (HTTP/1.1, HTTP/2), REST and /authz, and nothing of the secrets is printed", async () => {
    const key = svc.adminKey;
    const listKeys = toBinary(ListKeysRequestSchema, create(ListKeysRequestSchema, { tenantId: "acme" }));
    const introspect = toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token: "wf_acme_x" }));
    const outcomes: Record<string, unknown> = {};
    const authzErrors: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(variants(key))) {
      outcomes[`grpc ${name}`] = await grpcCall(svc.port, "/warpflow.auth.v1.TokenService/ListKeys", listKeys, {
        authorization: value.toString("latin1"),
      });
      outcomes[`connect/1.1 ${name}`] = await http1Call(
        svc.port,
        "/warpflow.auth.v1.TokenService/ListKeys",
        "Authorization",
        value,
        '{"tenantId":"acme"}',
      );
      outcomes[`connect/2 ${name}`] = await http2ConnectCall(
        svc.port,
        "/warpflow.auth.v1.TokenService/ListKeys",
        "authorization",
        value,
        '{"tenantId":"acme"}',
      );
      outcomes[`rest ${name}`] = await http1Call(
        svc.port,
        "/api/v1/sessions",
        "Authorization",
        value,
        '{"tenant_id":"acme"}',
      );
      // With the caller token, so the 401 can only come from the bearer rule, named in the body.
      const authz = await http1Exchange(
        svc.port,
        "/authz",
        "Authorization",
        value,
        "",
        `x-warpflow-caller-token: ${CALLER_TOKEN}\r\n`,
      );
      outcomes[`authz ${name}`] = authz.status;
      authzErrors[name] = JSON.parse(authz.body || "{}").error;
    }
    const callerVariants = {
      tab: `${CALLER_TOKEN.slice(0, 10)}\t${CALLER_TOKEN.slice(10)}`,
      trailingTab: `${CALLER_TOKEN}\t`,
    };
    for (const [name, value] of Object.entries(callerVariants)) {
      outcomes[`grpc caller-token ${name}`] = await grpcCall(
        svc.port,
        "/warpflow.auth.v1.TokenService/Introspect",
        introspect,
        { "x-warpflow-caller-token": value },
      );
    }

    for (const [what, outcome] of Object.entries(outcomes)) {
      if (what.startsWith("grpc"))
        expect(outcome, what).toBe("16"); // UNAUTHENTICATED
      // connect/2 too: Node 20's client sends every variant; "refused by client" would mean the
      // server never saw the bytes, and the leg would prove nothing.
      else expect(outcome, what).toBe(401);
    }
    // /authz names the bearer rule (not the caller check): "Bearer" then a tab or junk is a malformed
    // credential; "Bearer" glued to a no-break space is no bearer scheme at all.
    const malformed = { code: "invalid_request", message: "malformed bearer credential" };
    expect(authzErrors).toEqual({
      tab: malformed,
      "tab then space": malformed,
      "trailing no-break space": malformed,
      "leading no-break space": { code: "unauthenticated", message: "bearer token required" },
      "two tokens": malformed,
      "comma list": malformed,
    });
    // The correct credential works on each (the rule is not simply "refuse everything").
    expect(
      await grpcCall(svc.port, "/warpflow.auth.v1.TokenService/ListKeys", listKeys, { authorization: `Bearer ${key}` }),
    ).toBe("0");
    expect(
      await http1Call(
        svc.port,
        "/warpflow.auth.v1.TokenService/ListKeys",
        "Authorization",
        Buffer.from(`bearer   ${key}`),
        '{"tenantId":"acme"}',
      ),
    ).toBe(200);
    // ...and /authz with the caller token gets past both checks (the admin key is an active key);
    // without it the caller check refuses, which is why the variants above carry it.
    const authzOk = (extra: string) =>
      http1Exchange(svc.port, "/authz", "Authorization", Buffer.from(`Bearer ${key}`), "", extra);
    expect(
      (await authzOk(`x-warpflow-caller-token: ${CALLER_TOKEN}\r\n`)).status,
      "well-formed bearer and caller token on /authz",
    ).toBe(200);
    expect((await authzOk("")).status, "well-formed bearer without the caller token on /authz").toBe(401);

    await sleep(200); // let the process write what it will
    const output = svc.logs.map((l) => JSON.stringify(l)).join("\n") + "\n" + svc.stderr();
    for (const secret of [key, CALLER_TOKEN]) {
      const leaked = windows(secret).filter((w) => output.includes(w));
      expect(leaked, "a 12-character window of a secret appears in the process output").toEqual([]);
    }
    // The dependency's complaint is still visible, without the value.
    expect(output).toMatch(/grpc-js/);
  });
});
