// The unary methods of a protobuf-es service served directly on their HTTP/2 streams (no grpc-js
// call objects): the same decoding (the fast codecs, MALFORMED for a message that does not decode),
// the same synchronous cache-hit path (FAST_UNARY: the answer's framed bytes are kept with it and
// written as they are), the same reference handler with its call context, observer and error
// mapping as grpc-server.ts addProtobufService gives the methods grpc-js serves.
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { protobufMethodDefinition } from "../grpc-server.js";
import type * as http2 from "node:http2";
import type { CallObserver } from "../../protocol/call-observer.js";
import { mapError, OK } from "../../protocol/error-mapping.js";
import { MALFORMED, malformedRequest } from "../../protocol/malformed-request.js";
import { REQUEST_ID_HEADER } from "../../protocol/request-id.js";
import { FAST_UNARY, type CallContext, type FastUnary, type WithFastUnary } from "../../protocol/unary-handlers.js";
import type { DirectCall } from "./direct-call.js";
import { DirectCallContext } from "./direct-context.js";
import { addDirectMethod, type DirectRoutes } from "./direct-routes.js";
import { framed, gone, sendUnaryOk } from "./response-writer.js";
import { RESOURCE_EXHAUSTED } from "./message-reader.js";

export interface DirectUnaryCodec {
  /** The request's message, or MALFORMED (never throws). */
  decode(bytes: Buffer): unknown;
  /** The response's bytes (unframed). */
  encode(message: unknown): Uint8Array;
}

export interface DirectUnaryOptions {
  maxReceiveBytes: number;
  /** grpc.max_send_message_length. */
  maxSendBytes: number;
  observer: CallObserver;
  codecOf(service: DescService, method: DescMethod): DirectUnaryCodec;
}

/** The codec grpc-server.ts gives the same method on grpc-js (fast codecs first, then protobuf-es). */
export function directCodecOf(service: DescService, method: DescMethod): DirectUnaryCodec {
  const def = protobufMethodDefinition(service, method);
  return { decode: def.requestDeserialize, encode: def.responseSerialize };
}

type Handler = (req: unknown, ctx: CallContext) => Promise<unknown>;

/** The request id as response metadata when the call made one (as grpc-server.ts sendRequestId). */
const metadataOf = (ctx: CallContext): http2.OutgoingHttpHeaders | undefined =>
  ctx.requestId === undefined ? undefined : { [REQUEST_ID_HEADER]: ctx.requestId };

/** grpc-js's check of an answer's size (server-interceptors.js sendMessage). */
function tooLargeToSend(call: DirectCall, frame: Buffer, max: number): boolean {
  if (frame.length - 5 <= max) return false;
  call.sendStatus(RESOURCE_EXHAUSTED, `Sent message larger than max (${frame.length} vs. ${max})`);
  return true;
}

export function addDirectUnaryMethods<S extends DescService>(
  routes: DirectRoutes,
  service: S,
  handlers: object,
  opts: DirectUnaryOptions,
  /** Local names of the methods to serve directly (the rest stay on grpc-js). */
  only: readonly string[],
): void {
  const fastPaths = (handlers as WithFastUnary)[FAST_UNARY] ?? {};
  const { observer, maxSendBytes } = opts;
  for (const method of service.methods) {
    if (!only.includes(method.localName)) continue;
    if (method.methodKind !== "unary") throw new Error(`${method.name}: only unary methods are served directly here`);
    const handler = (handlers as Record<string, Handler>)[method.localName]!;
    const { decode, encode } = opts.codecOf(service, method);
    const name = method.name;
    const fast: FastUnary | undefined = fastPaths[method.localName];
    const observeOk = observer.okRecorder?.(name);

    const slow = (call: DirectCall, req: unknown) => {
      const start = process.hrtime.bigint();
      const ctx = new DirectCallContext(call.stream, call.headers!);
      const answer = req === MALFORMED ? Promise.reject(malformedRequest()) : handler(req, ctx);
      answer.then(
        (res) => {
          observer.end(name, OK, start, ctx);
          if (call.done || gone(call.stream)) return;
          let frame: Buffer;
          try {
            frame = framed(encode(res));
          } catch {
            return call.sendStatus(13, "Error serializing response", metadataOf(ctx));
          }
          if (tooLargeToSend(call, frame, maxSendBytes)) return;
          call.finish();
          sendUnaryOk(call.stream, frame, metadataOf(ctx));
        },
        (err: unknown) => {
          const mapped = mapError(err);
          observer.end(name, mapped.code, start, ctx, mapped.unexpected ? err : mapped.message);
          call.sendStatus(mapped.code, mapped.message, metadataOf(ctx));
        },
      );
    };

    addDirectMethod(routes, {
      path: `/${service.typeName}/${method.name}`,
      maxReceiveBytes: opts.maxReceiveBytes,
      onRequest(call, bytes) {
        const req = decode(bytes);
        if (fast !== undefined && observeOk !== undefined && req !== MALFORMED) {
          // The synchronous path (a cached answer): no context object, no promise, no BigInt
          // clock; the answer's framed bytes are made once and written by every call it serves.
          const t0 = performance.now();
          let answer;
          try {
            answer = fast.answer(req);
          } catch {
            answer = undefined; // the handler below gives the reference behaviour
          }
          if (answer !== undefined) {
            const frame = (answer.encoded ??= framed(encode(fast.message(answer)))) as Buffer;
            observeOk((performance.now() - t0) / 1000);
            if (gone(call.stream) || tooLargeToSend(call, frame, maxSendBytes)) return call.finish();
            call.finish();
            sendUnaryOk(call.stream, frame);
            return;
          }
        }
        slow(call, req);
      },
    });
  }
}
