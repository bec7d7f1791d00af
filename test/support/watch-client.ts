// WatchInvalidations from a test: native grpc-js (makeServerStreamRequest) or any connect-es
// transport (Connect, gRPC-Web). Collects every message; `until` waits for one matching.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import {
  TokenService,
  WatchInvalidationsRequestSchema,
  WatchInvalidationsResponseSchema,
  type WatchInvalidationsResponse,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { waitUntil } from "./poll.js";

export interface Watch {
  messages: WatchInvalidationsResponse[];
  /** The stream's end: undefined while open; { code } once it ended (0 = OK). */
  ended: { code: number; details: string } | undefined;
  /** Waits for a message matching `pred` (among all seen so far) and answers it. */
  until(
    pred: (m: WatchInvalidationsResponse) => boolean,
    ms?: number,
    what?: string,
  ): Promise<WatchInvalidationsResponse>;
  /** Waits for the end of the stream and answers its status. */
  end(ms?: number): Promise<{ code: number; details: string }>;
  cancel(): void;
}

export interface WatchOptions {
  resumeInstanceId?: string;
  resumeAfterSequence?: bigint;
  metadata?: Record<string, string>;
}

function collector(): Watch & { push(m: WatchInvalidationsResponse): void; finish(code: number, d: string): void } {
  const w = {
    messages: [] as WatchInvalidationsResponse[],
    ended: undefined as { code: number; details: string } | undefined,
    cancel: () => {},
    push(m: WatchInvalidationsResponse) {
      w.messages.push(m);
    },
    finish(code: number, details: string) {
      w.ended ??= { code, details };
    },
    async until(pred: (m: WatchInvalidationsResponse) => boolean, ms = 5000, what = "watch message") {
      let found: WatchInvalidationsResponse | undefined;
      await waitUntil(() => (found = w.messages.find(pred)) !== undefined, ms, what);
      return found!;
    },
    async end(ms = 5000) {
      await waitUntil(() => w.ended !== undefined, ms, "end of the watch stream");
      return w.ended!;
    },
  };
  return w;
}

/** Over native gRPC (grpc-js client). */
export function watchGrpc(address: string, opts: WatchOptions = {}, client?: grpc.Client): Watch {
  const c = client ?? new grpc.Client(address, grpc.credentials.createInsecure());
  const w = collector();
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
  const call = c.makeServerStreamRequest(
    `/${TokenService.typeName}/WatchInvalidations`,
    (m: object) => Buffer.from(toBinary(WatchInvalidationsRequestSchema, m as never)),
    (b: Buffer) => fromBinary(WatchInvalidationsResponseSchema, b),
    create(WatchInvalidationsRequestSchema, {
      resumeInstanceId: opts.resumeInstanceId ?? "",
      resumeAfterSequence: opts.resumeAfterSequence ?? 0n,
    }),
    md,
  );
  call.on("data", (m: WatchInvalidationsResponse) => w.push(m));
  call.on("status", (s: grpc.StatusObject) => w.finish(s.code, s.details));
  call.on("error", () => {});
  w.cancel = () => {
    call.cancel();
    if (!client) c.close();
  };
  return w;
}

/** Over a connect-es transport (Connect or gRPC-Web, HTTP/1.1 or HTTP/2). */
export function watchConnect(transport: Transport, opts: WatchOptions = {}): Watch {
  const w = collector();
  const ac = new AbortController();
  const client = createClient(TokenService, transport);
  void (async () => {
    try {
      for await (const m of client.watchInvalidations(
        { resumeInstanceId: opts.resumeInstanceId ?? "", resumeAfterSequence: opts.resumeAfterSequence ?? 0n },
        { signal: ac.signal, headers: opts.metadata },
      ))
        w.push(m);
      w.finish(0, "");
    } catch (err) {
      const e = err as { code?: number; rawMessage?: string };
      w.finish(e.code ?? 2, e.rawMessage ?? String(err));
    }
  })();
  w.cancel = () => ac.abort();
  return w;
}
