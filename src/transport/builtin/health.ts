import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
  HealthCheckResponseSchema,
  HealthListResponseSchema,
} from "../../gen/grpc/health/v1/health_pb.js";
import { quoteInput } from "./quote-input.js";
import { served, type ServedService } from "../protocol/served-service.js";

export interface HealthService {
  served: ServedService;
  /** Sets every known service (and the overall "") to SERVING or NOT_SERVING. */
  setServing(serving: boolean): void;
  /** Ends every open Watch (at shutdown, so they do not hold the drain). */
  close(): void;
  /** Watch calls waiting for a change: only open calls (a cancelled one is not kept). */
  readonly watching: number;
}

/**
 * grpc.health.v1 (Check, Watch, List) for the overall status "" and the given service names, all
 * NOT_SERVING until setServing(true). Check of an unknown name is NOT_FOUND; Watch of one answers
 * SERVICE_UNKNOWN and stays open, as the health-checking protocol says.
 */
export function createHealthService(serviceNames: string[]): HealthService {
  const statuses = new Map<string, Status>(["", ...serviceNames].map((n) => [n, Status.NOT_SERVING]));
  // The open Watch calls waiting for a change. A call that ends (the client cancels or goes away)
  // takes itself out, so cancelled watchers do not pile up here until the next status change.
  const waiting = new Set<() => void>();
  let closed = false;
  const notify = () => {
    const w = [...waiting];
    waiting.clear();
    w.forEach((f) => f());
  };
  const changed = (signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const done = () => {
        waiting.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      waiting.add(done);
      signal.addEventListener("abort", done, { once: true });
    });

  const handlers = served(Health, {
    async check(req) {
      const status = statuses.get(req.service);
      if (status === undefined) throw new ConnectError(`unknown service ${quoteInput(req.service)}`, Code.NotFound);
      return create(HealthCheckResponseSchema, { status });
    },
    async *watch(req, signal) {
      let last: Status | undefined;
      while (!signal.aborted) {
        const status = statuses.get(req.service) ?? Status.SERVICE_UNKNOWN;
        if (status !== last) {
          last = status;
          yield create(HealthCheckResponseSchema, { status });
          continue; // look again: the status may have changed while the caller was reading
        }
        if (closed) return; // after the last status (NOT_SERVING at shutdown) went out
        await changed(signal);
      }
    },
    async list() {
      const out = create(HealthListResponseSchema);
      for (const [name, status] of statuses) out.statuses[name] = create(HealthCheckResponseSchema, { status });
      return out;
    },
  });

  return {
    served: handlers,
    setServing(serving) {
      const status = serving ? Status.SERVING : Status.NOT_SERVING;
      for (const name of statuses.keys()) statuses.set(name, status);
      notify();
    },
    close() {
      closed = true;
      notify();
    },
    get watching() {
      return waiting.size;
    },
  };
}
