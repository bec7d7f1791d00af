// The CallContext of a directly served call (direct-call.ts): what GrpcCallContext (grpc-server.ts)
// reads from grpc-js's call, read from the HTTP/2 stream itself, and only when a handler asks.
// `header` gives what grpc-js's request metadata holds (request-head.ts metadataValue); `bearer`
// needs exactly one authorization entry (the dispatcher already removed a repeated one);
// `clientCertVerified` is grpc-js's getAuthContext: a TLS socket whose peer certificate verified.
import type * as http2 from "node:http2";
import { TLSSocket } from "node:tls";
import { bearerToken } from "../../protocol/bearer.js";
import { peerOf } from "../../protocol/peer.js";
import { nextCallSeq, REQUEST_ID_HEADER } from "../../protocol/request-id.js";
import type { CallContext } from "../../protocol/unary-handlers.js";
import { metadataValue } from "./request-head.js";

export class DirectCallContext implements CallContext {
  actor: string | undefined = undefined;
  tenantId: string | undefined = undefined;
  keyId: string | undefined = undefined;
  requestId: string | undefined = undefined;
  readonly seq = nextCallSeq();

  /** x-request-id, kept when a long-lived call lets its request headers go (releaseHeaders). */
  private requestIdHeader: string | undefined = undefined;

  constructor(
    protected readonly stream: http2.ServerHttp2Stream,
    private headers: http2.IncomingHttpHeaders | undefined,
  ) {}

  /** A long-lived call (a watch) drops its request headers, keeping x-request-id for its log line. */
  releaseHeaders(): void {
    if (this.headers === undefined) return;
    this.requestIdHeader = metadataValue(this.headers, REQUEST_ID_HEADER);
    this.headers = undefined;
  }

  get bearer(): string | undefined {
    const auth = this.header("authorization");
    return auth === undefined ? undefined : bearerToken(auth);
  }

  header(name: string): string | undefined {
    if (this.headers === undefined) return name === REQUEST_ID_HEADER ? this.requestIdHeader : undefined;
    return metadataValue(this.headers, name);
  }

  get peer(): string | undefined {
    return peerOf(this.stream.session?.socket);
  }

  get userAgent(): string | undefined {
    return this.header("user-agent");
  }

  get protocol(): string {
    return "grpc";
  }

  clientCertVerified(): boolean {
    const socket = this.stream.session?.socket;
    if (!(socket instanceof TLSSocket) || !socket.authorized) return false;
    return socket.getPeerCertificate().raw !== undefined;
  }
}
