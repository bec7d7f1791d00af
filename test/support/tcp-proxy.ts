import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A TCP proxy in front of a server, for fault tests: `cut()` destroys every open connection,
 * `pause()` freezes them (no byte forwarded either way, the sockets stay open: a silent stream on a
 * live connection), `block()` refuses new connections until `unblock()`.
 */
export interface TcpProxy {
  address: string;
  port: number;
  cut(): void;
  pause(): void;
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const open = new Set<[Socket, Socket]>();
  const frozen: Socket[] = [];
  let blocked = false;
  const server: Server = createServer((inbound) => {
    if (blocked) return inbound.destroy();
    const outbound = connect(targetPort, targetHost);
    const pair: [Socket, Socket] = [inbound, outbound];
    open.add(pair);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    const drop = () => {
      open.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on("error", drop).on("close", drop);
    outbound.on("error", drop).on("close", drop);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const cut = () => {
    for (const [a, b] of open) {
      a.destroy();
      b.destroy();
    }
    open.clear();
  };
  return {
    address: `127.0.0.1:${port}`,
    port,
    cut,
    pause() {
      for (const [a, b] of open) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
        frozen.push(a, b);
      }
      open.clear(); // frozen for good: later connections are new pairs
    },
    block: () => void (blocked = true),
    unblock: () => void (blocked = false),
    async close() {
      cut();
      for (const s of frozen) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
