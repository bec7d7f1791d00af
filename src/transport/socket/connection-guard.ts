// Admission of raw connections, before any byte is read: at most `maxPerAddress` open connections
// per client address (0 = no bound) and `maxTotal` in all, so one client cannot take every file
// descriptor of the process. A refused connection is closed at once. Every admitted socket is
// tracked, so shutdown can close connections that no server has taken over yet (or never will).
// A client address is counted as addressGroupOf groups it: an IPv6 client by its /64 (a host picks
// any of its 2^64 addresses per connection), an IPv4-mapped address as the IPv4 address.
import type * as net from "node:net";
import { addressGroupOf } from "../protocol/address-group.js";

export interface ConnectionGuard {
  /** Admits the socket (tracked until it closes) or destroys it; returns whether it was admitted. */
  admit(socket: net.Socket): boolean;
  /** Destroys every tracked socket (forced shutdown). */
  destroyAll(): void;
  readonly open: number;
  /** Connections refused since start, by reason. */
  readonly refused: { perAddress: number; total: number };
}

export interface ConnectionGuardOptions {
  maxPerAddress: number;
  maxTotal: number;
  /** Called for each refusal (metrics, a rate-limited log line). */
  onRefused?: (reason: "per_address" | "total") => void;
}

export function createConnectionGuard(opts: ConnectionGuardOptions): ConnectionGuard {
  const byAddress = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const refused = { perAddress: 0, total: 0 };

  const refuse = (socket: net.Socket, reason: "per_address" | "total") => {
    if (reason === "total") refused.total++;
    else refused.perAddress++;
    opts.onRefused?.(reason);
    socket.on("error", () => {});
    socket.destroy();
    return false;
  };

  return {
    admit(socket) {
      if (sockets.size >= opts.maxTotal) return refuse(socket, "total");
      const address = addressGroupOf(socket.remoteAddress) ?? "unknown";
      const count = byAddress.get(address) ?? 0;
      if (opts.maxPerAddress > 0 && count >= opts.maxPerAddress) return refuse(socket, "per_address");
      byAddress.set(address, count + 1);
      sockets.add(socket);
      socket.once("close", () => {
        sockets.delete(socket);
        const left = (byAddress.get(address) ?? 1) - 1;
        if (left <= 0) byAddress.delete(address);
        else byAddress.set(address, left);
      });
      return true;
    },
    destroyAll() {
      for (const socket of sockets) socket.destroy();
    },
    get open() {
      return sockets.size;
    },
    refused,
  };
}
