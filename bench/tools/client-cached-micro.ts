/**
 * The client's cached lookup in one process, without a server: a scripted stream keeps the client
 * healthy; 20,300 cached answers; caller CPU per call (µs) of SHA-256 + an LRU get alone (the
 * floor), `peek` and the awaited `introspect`, alternated per round. `npm run bench:client`'s
 * client_cached case measures the same against a real server from its own process.
 * Run: `npx tsx bench/tools/client-cached-micro.ts`.
 */
import { create } from "@bufbuild/protobuf";
import { LRUCache } from "lru-cache";
import type { TokenChannel, WatchHandlers } from "../../src/client/grpc-channel.js";
import { createTokenClient } from "../../src/client/token-client.js";
import { generateToken } from "../../src/domain/token-format.js";
import { hashToken } from "../../src/domain/token-hash.js";
import {
  IntrospectResponseSchema,
  TokenType,
  WatchInvalidationsResponseSchema,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";

let stream: WatchHandlers | undefined;
const channel: TokenChannel = {
  introspect: async () =>
    create(IntrospectResponseSchema, { active: true, tokenType: TokenType.API_KEY, tenantId: "fill", keyId: "k" }),
  watch(_req, handlers) {
    stream = handlers;
    return { cancel() {} };
  },
  close() {},
};
const client = createTokenClient({ address: "scripted", channel, stalenessMs: 1e9 });
const push = (event: { case: "reset" | "heartbeat"; value: object }) =>
  stream!.data(create(WatchInvalidationsResponseSchema, { instanceId: "i", sequence: 1n, event } as never));
push({ case: "reset", value: {} });
push({ case: "heartbeat", value: { complete: true } });

const tokens = Array.from({ length: 20_300 }, () => generateToken("api_key", "fill"));
const floor = new LRUCache<string, object>({ max: 100_000 });
const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const N = 1_000_000;

async function main() {
  for (const t of tokens) {
    await client.introspect(t);
    floor.set(hashToken(t), {});
  }
  for (let round = 0; round < 4; round++) {
    let n = 0;
    let c0 = cpuUs();
    for (let i = 0; i < N; i++) if (floor.get(hashToken(tokens[i % tokens.length]!))) n++;
    const hashGet = (cpuUs() - c0) / N;
    c0 = cpuUs();
    for (let i = 0; i < N; i++) if (client.peek(tokens[i % tokens.length]!)) n++;
    const peek = (cpuUs() - c0) / N;
    c0 = cpuUs();
    for (let i = 0; i < N; i++) if ((await client.introspect(tokens[i % tokens.length]!)).active) n++;
    const awaited = (cpuUs() - c0) / N;
    if (n !== 3 * N) throw new Error("a lookup was not answered from cache");
    console.log(
      `round ${round + 1}: SHA-256 + LRU get ${hashGet.toFixed(3)} µs, peek ${peek.toFixed(3)} µs, awaited introspect ${awaited.toFixed(3)} µs`,
    );
  }
  client.close();
}
void main();
