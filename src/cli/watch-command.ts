// `warpflow watch`: prints WatchInvalidations as they arrive (docs/watch-protocol.md), one line
// each (--json: one JSON object per line). A self-contained command, so the CLI's parser can
// change around it: main.ts (or its successor) calls runWatch with a client and the options.
import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import * as pb from "../gen/warpflow/auth/v1/token_service_pb.js";
import { escapeJsonText, safe } from "./format.js";

export interface WatchCommandOptions {
  client: Client<typeof pb.TokenService>;
  json: boolean;
  /** INTROSPECT_CALLER_TOKEN of the server, if it requires one (sent, never printed). */
  callerToken?: string | undefined;
  /** Print every heartbeat (default: only when `complete` changes). */
  heartbeats?: boolean;
  signal?: AbortSignal | undefined;
  print?: (line: string) => void;
}

const kindName = (k: pb.InvalidationKind) => pb.InvalidationKind[k] ?? `KIND_${k}`;
const reasonName = (r: pb.ResetReason) => pb.ResetReason[r] ?? `REASON_${r}`;

/** One message as a line for people; undefined for a heartbeat that says nothing new. */
export function formatWatchMessage(
  m: pb.WatchInvalidationsResponse,
  lastComplete: boolean | undefined,
): string | undefined {
  const seq = `#${m.sequence}`;
  switch (m.event.case) {
    case "invalidation": {
      const i = m.event.value;
      const ids = [
        i.tenantId && `tenant ${safe(i.tenantId)}`,
        i.keyId && `key ${safe(i.keyId)}`,
        i.sessionId && `session ${safe(i.sessionId)}`,
        i.hipaaEnabled !== undefined && `hipaa ${i.hipaaEnabled ? "on" : "off"}`,
      ].filter(Boolean);
      return `${seq} ${kindName(i.kind)} ${ids.join(" ")}`.trimEnd();
    }
    case "reset":
      return `${seq} RESET ${reasonName(m.event.value.reason)} (instance ${safe(m.instanceId)}): drop everything cached`;
    case "heartbeat": {
      const h = m.event.value;
      if (lastComplete === h.complete) return undefined;
      const at = h.serverTime ? timestampDate(h.serverTime).toISOString() : "-";
      return h.complete
        ? `${seq} heartbeat: complete (every change is seen; every ${h.intervalMs} ms, server time ${at})`
        : `${seq} heartbeat: INCOMPLETE (this instance may miss changes made elsewhere: callers must not answer from cache)`;
    }
    case undefined:
      return undefined; // a future event kind: nothing to print
  }
}

/** Streams until the server ends it, the signal aborts, or the connection fails (then it throws). */
export async function runWatch(opts: WatchCommandOptions): Promise<void> {
  const print = opts.print ?? ((line: string) => console.log(line));
  const headers: Record<string, string> = opts.callerToken ? { "x-warpflow-caller-token": opts.callerToken } : {};
  let complete: boolean | undefined;
  const stream = opts.client.watchInvalidations({}, { headers, signal: opts.signal, timeoutMs: 0 });
  for await (const m of stream) {
    const isHeartbeat = m.event.case === "heartbeat";
    const wasComplete = complete;
    if (m.event.case === "heartbeat") complete = m.event.value.complete;
    if (opts.json) {
      if (!isHeartbeat || opts.heartbeats || wasComplete !== complete)
        print(escapeJsonText(JSON.stringify(toJson(pb.WatchInvalidationsResponseSchema, m))));
      continue;
    }
    const line = formatWatchMessage(m, opts.heartbeats ? undefined : wasComplete);
    if (line !== undefined) print(line);
  }
}
