import { execFile, execFileSync } from "node:child_process";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { CheckRequestSchema, CheckResponseSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { IntrospectResponseSchema, TokenType } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createGrpcTokenClient } from "../support/grpc-client.js";
import { startH2Tap } from "../support/h2-tap.js";
import { useTestApp, type TestApp } from "../support/test-app.js";

/**
 * Real clients with request compression on (gzip), against Introspect and Check served directly
 * (src/transport/grpc/direct/) and served by grpc-js (`grpcDirect: false`): a tap between client
 * and server counts the request messages that went out compressed, and both servers answer the
 * same. Clients: @grpc/grpc-js (`grpc.default_compression_algorithm`), Debian's python3-grpcio
 * (`compression=grpc.Compression.Gzip`; skipped, saying why, where it is missing).
 */
const direct = useTestApp();
const reference = useTestApp({ grpcDirect: false });

const PYTHON = "/usr/bin/python3";
const missing = (() => {
  try {
    execFileSync(PYTHON, ["-c", "import grpc"], { stdio: "pipe" });
    return undefined;
  } catch {
    return `${PYTHON} cannot import grpc (apt-get install python3-grpcio)`;
  }
})();
if (missing) console.log(`python3-grpcio compression case skipped: ${missing}`);

const GZIP = 2; // grpc-js's compressionAlgorithms.gzip
const checkBytes = (token: string) =>
  Buffer.from(
    toBinary(
      CheckRequestSchema,
      create(CheckRequestSchema, {
        attributes: { request: { http: { headers: { authorization: `Bearer ${token}` } } } },
      }),
    ),
  );

/** Introspect (twice: a cache miss, then a hit) and Check (twice) from grpc-js, compressing. */
async function fromGrpcJs(t: TestApp, token: string) {
  const tap = await startH2Tap(t.port);
  const options = { "grpc.default_compression_algorithm": GZIP, "grpc.use_local_subchannel_pool": 1 };
  const client = createGrpcTokenClient(`127.0.0.1:${tap.port}`, undefined, options);
  const raw = new grpc.Client(`127.0.0.1:${tap.port}`, grpc.credentials.createInsecure(), options);
  const check = () =>
    new Promise<Buffer>((resolve, reject) =>
      raw.makeUnaryRequest(
        "/envoy.service.auth.v3.Authorization/Check",
        (b: Buffer) => b,
        (b: Buffer) => b,
        checkBytes(token),
        (err, res) => (err ? reject(err) : resolve(res!)),
      ),
    );
  try {
    const answers = [
      await client.introspect({ token }),
      await client.introspect({ token }),
      fromBinary(CheckResponseSchema, await check()),
      fromBinary(CheckResponseSchema, await check()),
    ];
    const compressed = tap.connections.reduce((n, c) => n + c.compressedMessages, 0);
    return { answers, compressed };
  } finally {
    client.close();
    raw.close();
    await tap.close();
  }
}

const PY = `
import grpc, sys
target, token = sys.argv[1], sys.argv[2].encode()
ch = grpc.insecure_channel(target, compression=grpc.Compression.Gzip)
call = ch.unary_unary("/warpflow.auth.v1.TokenService/Introspect", request_serializer=lambda b: b, response_deserializer=lambda b: b)
# grpcio sends a message uncompressed when gzip does not make it smaller: an unknown field (99) of
# 2,000 bytes that compresses well (protobuf-es and the fast codec skip it)
msg = b"\\x0a" + bytes([len(token)]) + token + b"\\x9a\\x06\\xd0\\x0f" + b"a" * 2000
out = [call(msg, timeout=10).hex(), call(msg, timeout=10, compression=grpc.Compression.Deflate).hex()]
try:
    call(b"\\x0a\\x7f" + token + b"a" * 2000, timeout=10)
except grpc.RpcError as e:
    out.append(f"{e.code().name}: {e.details()}")
print("\\n".join(out))
`;

function fromPython(t: TestApp, token: string): Promise<string[]> {
  return startH2Tap(t.port).then(
    (tap) =>
      new Promise<string[]>((resolve, reject) =>
        execFile(PYTHON, ["-c", PY, `127.0.0.1:${tap.port}`, token], { timeout: 30_000 }, (err, stdout, stderr) => {
          const compressed = tap.connections.reduce((n, c) => n + c.compressedMessages, 0);
          void tap.close();
          if (err) return reject(new Error(stderr.slice(-600)));
          resolve([...stdout.trim().split("\n"), `compressed messages: ${compressed}`]);
        }),
      ),
  );
}

async function keyOf(t: TestApp) {
  const created = await t.grpc.createKey({ tenantId: "acme", label: "gzip" }, { bearer: t.adminKey });
  return { token: created.token, keyId: created.key!.id };
}

describe("compressed requests from real clients: direct and grpc-js answer the same", () => {
  it("@grpc/grpc-js with gzip: Introspect and Check", async () => {
    const [d, r] = [await keyOf(direct), await keyOf(reference)];
    const got = await fromGrpcJs(direct, d.token);
    const want = await fromGrpcJs(reference, r.token);
    expect(got.compressed).toBe(4); // every request went out compressed
    expect(want.compressed).toBe(4);
    expect(got.answers[0]).toMatchObject({ active: true, tokenType: TokenType.API_KEY, keyId: d.keyId });
    const blank = (x: unknown, keyId: string) =>
      JSON.stringify(x, (_k, v) => (typeof v === "bigint" ? String(v) : v)).replaceAll(keyId, "<key>");
    expect(blank(got.answers, d.keyId)).toBe(blank(want.answers, r.keyId));
  });

  it.skipIf(missing !== undefined)(
    "python3-grpcio with gzip and deflate: Introspect, and a bad message's status",
    async () => {
      const [d, r] = [await keyOf(direct), await keyOf(reference)];
      const got = await fromPython(direct, d.token);
      const want = await fromPython(reference, r.token);
      expect(got.at(-1)).toBe("compressed messages: 3");
      const response = fromBinary(IntrospectResponseSchema, Buffer.from(got[0]!, "hex"));
      expect(response).toMatchObject({ active: true, keyId: d.keyId });
      const blank = (lines: string[], keyId: string) =>
        lines.map((l) => l.replaceAll(Buffer.from(keyId).toString("hex"), "<key>"));
      expect(blank(got, d.keyId)).toEqual(blank(want, r.keyId));
      expect(got[2]).toBe("INVALID_ARGUMENT: request: not a valid protobuf message");
    },
  );
});
