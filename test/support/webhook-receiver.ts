// A real webhook receiver on 127.0.0.1:0 that verifies every delivery with the `standardwebhooks`
// library (the published verifier, not this project's code) and records what it got. `respond`
// scripts each answer: a status, "hang" (never answer: the sender's timeout), or "close".
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** Did the library verify it with the receiver's secret(s) at the time? */
  verified: boolean;
  /** The body, parsed (only when verified). */
  event?: { type: string; timestamp: string; data: Record<string, unknown> };
  answered: number | "hang" | "close";
}

export type Respond = (r: Received, n: number) => number | "hang" | "close";

export interface WebhookReceiver {
  url: string;
  port: number;
  /** Every request, in arrival order. */
  requests: Received[];
  /** Verified deliveries answered 2xx, in arrival order. */
  delivered(): Received[];
  /** Secrets the library verifies with (any one verifying is enough). */
  secrets: string[];
  respond: Respond;
  close(): Promise<void>;
}

export async function startWebhookReceiver(
  opts: { secrets?: string[]; respond?: Respond } = {},
): Promise<WebhookReceiver> {
  const hanging = new Set<ServerResponse>();
  const receiver: WebhookReceiver = {
    url: "",
    port: 0,
    requests: [],
    secrets: opts.secrets ?? [],
    respond: opts.respond ?? (() => 204),
    delivered: () => receiver.requests.filter((r) => r.verified && typeof r.answered === "number" && r.answered < 300),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers = {
        "webhook-id": String(req.headers["webhook-id"] ?? ""),
        "webhook-timestamp": String(req.headers["webhook-timestamp"] ?? ""),
        "webhook-signature": String(req.headers["webhook-signature"] ?? ""),
      };
      const r: Received = {
        id: headers["webhook-id"],
        timestamp: headers["webhook-timestamp"],
        signature: headers["webhook-signature"],
        body,
        verified: false,
        answered: 0,
      };
      for (const secret of receiver.secrets) {
        try {
          r.event = new Webhook(secret).verify(body, headers) as Received["event"];
          r.verified = true;
          break;
        } catch {
          // try the next secret
        }
      }
      r.answered = receiver.respond(r, receiver.requests.length);
      receiver.requests.push(r);
      if (r.answered === "hang") hanging.add(res);
      else if (r.answered === "close") req.socket.destroy();
      else res.writeHead(r.answered).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/hooks`;
  return receiver;
}
