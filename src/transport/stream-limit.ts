import { Code, ConnectError } from "@connectrpc/connect";
import type { ServedService } from "./service-handlers.js";

/**
 * A bound on the built-in services' open streaming calls (health Watch, reflection), all together,
 * on every transport. Such a call may stay open for as long as the client likes, and each holds
 * memory for as long (measured: 25,000 gRPC-Web Watch calls from one address, 100 per connection,
 * RSS 88 -> 1,137 MiB, all still open minutes later). Past `max` open calls a new one answers
 * RESOURCE_EXHAUSTED at once and its memory is free again; unary methods are not counted.
 */
export function limitOpenStreams(services: ServedService[], max: number): ServedService[] {
  let open = 0;
  async function* counted(start: () => AsyncIterable<unknown>): AsyncIterable<unknown> {
    if (open >= max) throw new ConnectError(`too many open streams (${max}), retry later`, Code.ResourceExhausted);
    open++;
    try {
      yield* start();
    } finally {
      open--;
    }
  }
  return services.map(({ service, handlers }) => {
    const limited = { ...handlers };
    for (const method of service.methods) {
      if (method.methodKind === "unary") continue;
      const h = handlers[method.localName]! as (input: unknown, signal: AbortSignal) => AsyncIterable<unknown>;
      limited[method.localName] = ((input: unknown, signal: AbortSignal) => counted(() => h(input, signal))) as never;
    }
    return { service, handlers: limited };
  });
}
