// The call context of a connect-node request (unary and streaming alike): what the handlers may read
// of the caller, each header read only when asked. The two context values are set per request by the
// server (server.ts) from the socket.
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { bearerToken } from "../protocol/bearer.js";
import { connectProtocolOf } from "../protocol/peer.js";
import { nextCallSeq } from "../protocol/request-id.js";
import type { CallContext } from "../protocol/unary-handlers.js";

/** Set per request by the HTTP/1.1 server from the TLS socket (connectNodeAdapter contextValues). */
export const clientCertVerifiedKey = createContextKey(false, { description: "client certificate verified" });
/** Set per request by the HTTP/1.1 server: the caller's ip:port (peer.ts peerOf), for the audit trail. */
export const peerAddressKey = createContextKey<string | undefined>(undefined, { description: "peer address" });

export function connectCallContext(hc: HandlerContext): CallContext {
  return {
    // Read only when an admin handler asks (never on Introspect, whose token is in the message).
    get bearer() {
      return bearerToken(hc.requestHeader.get("authorization"));
    },
    signal: hc.signal,
    header: (name) => hc.requestHeader.get(name) ?? undefined,
    clientCertVerified: () => hc.values.get(clientCertVerifiedKey),
    get peer() {
      return hc.values.get(peerAddressKey);
    },
    get userAgent() {
      return hc.requestHeader.get("user-agent") ?? undefined;
    },
    get protocol() {
      return connectProtocolOf(hc.requestHeader.get("content-type"));
    },
    seq: nextCallSeq(),
  };
}
