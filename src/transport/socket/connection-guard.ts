// Admission of raw connections, before any byte is read: at most `maxPerAddress` open connections
// per client address (0 = no bound) and `maxTotal` in all, so one client cannot take every file
// descriptor of the process. A refused connection is closed at once. Every admitted socket is
// tracked, so shutdown can close connections that no server has taken over yet (or never will).
// A client address is counted as addressGroupOf groups it: an IPv6 client by its /64 (a host picks
// any of its 2^64 addresses per connection), an IPv4-mapped address as the IPv4 address.
import type * as net from "node:net";
import { addressGroupOf } from "../../domain/address-group.js";

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
  /**
   * When `maxTotal` is reached, a newcomer whose address holds at least 2 fewer connections than
   * the address holding the most is admitted and that address's oldest connection is closed (so a
   * few addresses holding every place cannot shut out another: the ops port's probes). A linear
   * scan of the addresses: only for a small `maxTotal`.
   */
  evictWhenFull?: boolean;
  /** Called for each refusal (metrics, a rate-limited log line). */
  onRefused?: (reason: "per_address" | "total") => void;
}

export function createConnectionGuard(opts: ConnectionGuardOptions): ConnectionGuard {
  const byAddress = new Map<string, number>();
  // With evictWhenFull: each address's sockets, oldest first.
  const socketsOf = new Map<string, Set<net.Socket>>();
  const evictFor = (address: string): boolean => {
    const mine = byAddress.get(address) ?? 0;
    let most: string | undefined;
    for (const [a, n] of byAddress) if (n >= mine + 2 && (most === undefined || n > byAddress.get(most)!)) most = a;
    const oldest = most === undefined ? undefined : socketsOf.get(most)?.values().next().value;
    if (oldest === undefined) return false;
    release(oldest, most!); // now: a destroyed socket's 'close' comes later
    oldest.destroy();
    return true;
  };
  const sockets = new Set<net.Socket>();
  /** Frees a socket's place, once (on 'close', or at once when evicted). */
  const release = (socket: net.Socket, address: string) => {
    if (!sockets.delete(socket)) return;
    const mine = socketsOf.get(address);
    if (mine?.delete(socket) && mine.size === 0) socketsOf.delete(address);
    const left = (byAddress.get(address) ?? 1) - 1;
    if (left <= 0) byAddress.delete(address);
    else byAddress.set(address, left);
  };
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
      const address = addressGroupOf(socket.remoteAddress) ?? "unknown";
      if (sockets.size >= opts.maxTotal && !(opts.evictWhenFull && evictFor(address))) return refuse(socket, "total");
      const count = byAddress.get(address) ?? 0;
      if (opts.maxPerAddress > 0 && count >= opts.maxPerAddress) return refuse(socket, "per_address");
      byAddress.set(address, count + 1);
      sockets.add(socket);
      if (opts.evictWhenFull) {
        const mine = socketsOf.get(address) ?? new Set<net.Socket>();
        socketsOf.set(address, mine.add(socket));
      }
      socket.once("close", () => release(socket, address));
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
