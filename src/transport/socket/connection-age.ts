// Maximum connection age on HTTP/1.1 (gRPC's max_connection_age, as grpc-js applies it to every
// HTTP/2 session of the port: see grpc/grpc-injector.ts). Behind a Kubernetes Service, a keep-alive
// connection pins its client to one pod for as long as it lives; a bounded age lets new pods get
// traffic. HTTP/1.1 has no GOAWAY, so a connection past its age (±10%, so connections opened
// together do not all go together) closes after the response in progress or, when idle, at once;
// a request still open `graceMs` after the age (a long server stream) is cut.
import type * as http from "node:http";
import type { Duplex } from "node:stream";

export interface ConnectionAge {
  /** 0: connections live as long as their peer and the other limits let them. */
  ageMs: number;
  graceMs: number;
}

/** The age of one connection: `ageMs` ±10%, like grpc-go and grpc-js. */
export const jitteredAge = (ageMs: number, random: () => number = Math.random): number =>
  ageMs * (0.9 + 0.2 * random());

interface State {
  aged: boolean;
  /** The response in progress on this connection (HTTP/1.1 answers one request at a time). */
  current: http.ServerResponse | undefined;
}

export function limitHttp1ConnectionAge(server: http.Server, age: ConnectionAge): void {
  if (age.ageMs <= 0) return;
  const states = new WeakMap<Duplex, State>();

  server.on("connection", (socket: Duplex) => {
    const state: State = { aged: false, current: undefined };
    states.set(socket, state);
    let cut: NodeJS.Timeout | undefined;
    const aging = setTimeout(() => {
      state.aged = true;
      // The response in progress closes the connection when it ends (if its head is not out yet;
      // else see below); an idle one is closed now, as the keep-alive timeout would close it.
      if (state.current === undefined) socket.end();
      else if (!state.current.headersSent) state.current.shouldKeepAlive = false;
      cut = setTimeout(() => socket.destroy(), age.graceMs);
      cut.unref();
    }, jitteredAge(age.ageMs));
    aging.unref();
    socket.once("close", () => {
      clearTimeout(aging);
      clearTimeout(cut);
    });
  });

  server.prependListener("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const state = states.get(req.socket);
    if (state === undefined) return;
    if (state.aged) res.shouldKeepAlive = false; // a request that came in after the age: the last one
    state.current = res;
    res.once("close", () => {
      if (state.current === res) state.current = undefined;
      // A response whose head went out (keep-alive) before the age: the connection ends after it.
      if (state.aged && state.current === undefined) req.socket.end();
    });
  });
}
