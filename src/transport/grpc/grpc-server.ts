import { fromBinary, toBinary, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { bearerToken } from "../protocol/bearer.js";
import { peerOf } from "../protocol/peer.js";
import type { CallObserver } from "../protocol/call-observer.js";
import { mapError, OK } from "../protocol/error-mapping.js";
import { fastCodecs, type FastCodec } from "./introspect-codec.js";
import { checkCodecs } from "./check-codec.js";
import { MALFORMED, malformedRequest, tolerant } from "../protocol/malformed-request.js";
import { nextCallSeq, REQUEST_ID_HEADER } from "../protocol/request-id.js";
import { framed } from "./direct/response-writer.js";
import { FAST_UNARY, type CallContext, type UnaryHandlers, type WithFastUnary } from "../protocol/unary-handlers.js";

/** A Buffer view of protobuf-es output (no copy), as grpc-js serializers must return. */
const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * A streamed message object sent to many calls (a WatchInvalidations heartbeat or invalidation) is
 * encoded once: its bytes are kept for as long as the object lives.
 */
const encoded = new WeakMap<object, Buffer>();
function encodeOnce(schema: DescMessage, m: object): Buffer {
  let bytes = encoded.get(m);
  if (!bytes) {
    bytes = asBuffer(toBinary(schema, m as never));
    encoded.set(m, bytes);
  }
  return bytes;
}

/**
 * grpc-js's definition of one method of a protobuf-es service: the path and message encoding come
 * from the generated descriptor, so they can never drift from the proto. `fast` is the optional
 * byte-identical codec (introspect-codec.ts) tried before protobuf-es. A request that does not
 * decode arrives as MALFORMED (malformed-request.ts), for the method to answer INVALID_ARGUMENT.
 */
export function methodDefinition(
  service: DescService,
  method: DescMethod,
  fast?: FastCodec<unknown>,
): grpc.MethodDefinition<unknown, unknown> {
  const input = method.input as DescMessage;
  const output = method.output as DescMessage;
  const decode = fast?.decode;
  const encode = fast?.encode;
  return {
    path: `/${service.typeName}/${method.name}`,
    requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
    responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
    requestSerialize: (m: unknown) => asBuffer(toBinary(input, m as never)),
    requestDeserialize: tolerant(
      decode ? (b: Buffer) => decode(b) ?? fromBinary(input, b) : (b: Buffer) => fromBinary(input, b),
    ),
    // A Buffer is a response a fast path encoded already (grpc-js copies it into its frame).
    responseSerialize: encode
      ? (m: unknown) => (m instanceof Buffer ? m : (encode(m) ?? asBuffer(toBinary(output, m as never))))
      : method.methodKind === "server_streaming"
        ? (m: unknown) => encodeOnce(output, m as object)
        : (m: unknown) => (m instanceof Buffer ? m : asBuffer(toBinary(output, m as never))),
    responseDeserialize: (b: Buffer) => fromBinary(output, b),
    originalName: method.localName,
  };
}

/** A unary method's definition with the hot messages' fast codecs (introspect-codec.ts, check-codec.ts). */
export function protobufMethodDefinition(
  service: DescService,
  method: DescMethod,
): grpc.MethodDefinition<unknown, unknown> {
  const fastIn = (fastCodecs.get(method.input.typeName) ?? checkCodecs.get(method.input.typeName)) as
    | FastCodec<unknown>
    | undefined;
  const fastOut = fastCodecs.get(method.output.typeName) as FastCodec<unknown> | undefined;
  return methodDefinition(service, method, { decode: fastIn?.decode, encode: fastOut?.encode });
}

/**
 * The CallContext of a grpc-js call. A class, so the per-call object carries no closures: bearer,
 * header() and clientCertVerified() read the call only when a handler asks.
 */
export class GrpcCallContext implements CallContext {
  actor: string | undefined = undefined;
  tenantId: string | undefined = undefined;
  keyId: string | undefined = undefined;
  requestId: string | undefined = undefined;
  readonly seq = nextCallSeq();

  constructor(
    protected readonly call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  ) {}

  /** Read only when an admin handler asks (never on Introspect, whose token is in the message). */
  get bearer(): string | undefined {
    // Exactly one authorization entry (two credentials are none, as on the other protocols).
    const auth = this.call.metadata.get("authorization");
    return auth.length === 1 && typeof auth[0] === "string" ? bearerToken(auth[0]) : undefined;
  }

  header(name: string): string | undefined {
    const v = this.call.metadata.get(name)[0];
    return typeof v === "string" ? v : undefined;
  }

  /** The audit trail's fields, read only when an admin handler asks (never on Introspect). */
  get peer(): string | undefined {
    const p = this.call.getPeer(); // "1.2.3.4:5678", "::1:5678", "[::1]:5678" or "unknown"
    if (p === "unknown" || p === "") return undefined;
    if (p.startsWith("[")) return p;
    const colon = p.lastIndexOf(":");
    return peerOf({ remoteAddress: p.slice(0, colon), remotePort: Number(p.slice(colon + 1)) });
  }

  get userAgent(): string | undefined {
    return this.header("user-agent");
  }

  get protocol(): string {
    return "grpc";
  }

  /** grpc-js reports "ssl" only for a TLS socket whose peer certificate verified against the CA. */
  clientCertVerified(): boolean {
    const auth = this.call.getAuthContext();
    return auth.transportSecurityType === "ssl" && auth.sslPeerCertificate !== undefined;
  }
}

/**
 * The request id as response metadata, when a log line already made it (every admin call; an
 * Introspect only when logged at debug): a hot call pays nothing for it.
 */
function sendRequestId(call: grpc.ServerUnaryCall<unknown, unknown>, ctx: GrpcCallContext): void {
  if (ctx.requestId === undefined) return;
  const md = new grpc.Metadata();
  md.set(REQUEST_ID_HEADER, ctx.requestId);
  call.sendMetadata(md);
}

/**
 * Serves a protobuf-es service on a @grpc/grpc-js server: the method table is derived from the
 * generated descriptor (so it can never drift from the proto), messages are encoded with
 * protobuf-es (or, for the hot Introspect messages, with the byte-identical codec in
 * introspect-codec.ts), and every call ends in the shared observer and error mapping.
 */
export function addProtobufService<S extends DescService>(
  server: grpc.Server,
  service: S,
  handlers: UnaryHandlers<S>,
  observer: CallObserver,
): void {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  const fastPaths = (handlers as WithFastUnary)[FAST_UNARY] ?? {};
  for (const method of service.methods) {
    if (method.methodKind === "server_streaming") continue; // grpc-token-streams.ts
    if (method.methodKind !== "unary") throw new Error(`${method.name}: only unary methods are supported`);
    definition[method.localName] = protobufMethodDefinition(service, method);
    const handler = (handlers as Record<string, (req: unknown, ctx: CallContext) => Promise<unknown>>)[
      method.localName
    ]!;
    const name = method.name;
    const fast = fastPaths[method.localName];
    const serialize = definition[method.localName]!.responseSerialize;
    const observeOk = observer.okRecorder?.(name);
    implementation[method.localName] = ((
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      if (fast !== undefined && observeOk !== undefined && call.request !== MALFORMED) {
        // The synchronous path (a cached answer): no context object, no promise, no BigInt clock;
        // the answer's bytes are encoded once and reused by every call it serves.
        const t0 = performance.now();
        let answer;
        try {
          answer = fast.answer(call.request);
        } catch {
          answer = undefined; // the handler below gives the reference behaviour
        }
        if (answer !== undefined) {
          // The kept bytes are framed (direct/direct-unary.ts writes them as they are): grpc-js frames its own.
          const frame = (answer.encoded ??= framed(serialize(fast.message(answer)))) as Buffer;
          observeOk((performance.now() - t0) / 1000);
          callback(null, frame.subarray(5));
          return;
        }
      }
      const start = process.hrtime.bigint();
      const ctx = new GrpcCallContext(call);
      const answer = call.request === MALFORMED ? Promise.reject(malformedRequest()) : handler(call.request, ctx);
      answer.then(
        (res) => {
          observer.end(name, OK, start, ctx);
          sendRequestId(call, ctx);
          callback(null, res);
        },
        (err: unknown) => {
          const mapped = mapError(err);
          observer.end(name, mapped.code, start, ctx, mapped.unexpected ? err : mapped.message);
          sendRequestId(call, ctx);
          callback({ code: mapped.code as number as grpc.status, details: mapped.message });
        },
      );
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  server.addService(definition as grpc.ServiceDefinition, implementation);
}
