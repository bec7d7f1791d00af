/** A socket's remote end as "ip:port" ("[ipv6]:port"), for the audit trail. */
export function peerOf(
  socket: { remoteAddress?: string | undefined; remotePort?: number | undefined } | undefined,
): string | undefined {
  const address = socket?.remoteAddress;
  if (!address) return undefined;
  const host = address.includes(":") ? `[${address}]` : address;
  return socket.remotePort === undefined ? host : `${host}:${socket.remotePort}`;
}

/** The protocol of a request connect-node served, from its content type. */
export function connectProtocolOf(contentType: string | null | undefined): "grpc-web" | "grpc" | "connect" {
  const type = (contentType ?? "").toLowerCase();
  if (type.startsWith("application/grpc-web")) return "grpc-web";
  if (type.startsWith("application/grpc")) return "grpc";
  return "connect";
}
