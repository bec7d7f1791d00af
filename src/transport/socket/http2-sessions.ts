// The HTTP/2 sessions of the one port, tracked here so shutdown can drain them itself: GOAWAY on
// each (Node's `session.close()`: no new streams, open ones run to their end), then wait for every
// session's own 'close' event.
//
// Why not grpc-js's `tryShutdown` alone: it calls the http2 server's `close()` and then, per
// session, `session.close(callback)`, but when a session is already closed it calls back at once.
// Node 24 and 26 (not 20) track each http2 server's sessions and `Http2Server.close()` itself calls
// `session.close()` on every one (`closeAllSessions` in lib/internal/http2/core.js), so by the time grpc-js looks, every session is
// closed and tryShutdown reports "drained" while calls are still in flight: shutdown then
// destroyed their sockets (no answer, a health Watch cut with CANCEL). Waiting for 'close' is
// right on every runtime.
import type * as http2 from "node:http2";

export interface Http2Sessions {
  /** Sessions open now. */
  readonly open: number;
  /**
   * GOAWAY on every session (and on any that starts from now on); resolves when all have closed,
   * i.e. when their last stream has ended. The caller bounds the wait (forced shutdown).
   */
  drain(): Promise<void>;
}

export function trackHttp2Sessions(h2: http2.Http2Server): Http2Sessions {
  const sessions = new Set<http2.ServerHttp2Session>();
  let draining = false;
  let drained: (() => void) | undefined;

  const close = (session: http2.ServerHttp2Session) => {
    // close() is a no-op on a closed or destroyed session: its 'close' event is still to come.
    if (!session.closed && !session.destroyed) session.close();
  };

  h2.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => {
      sessions.delete(session);
      if (draining && sessions.size === 0) drained?.();
    });
    // A connection the listener hands over after the drain began (its first bytes were still
    // being read) gets a GOAWAY before its first stream.
    if (draining) close(session);
  });

  return {
    get open() {
      return sessions.size;
    },
    drain() {
      draining = true;
      return new Promise<void>((resolve) => {
        drained = resolve;
        for (const session of sessions) close(session);
        if (sessions.size === 0) resolve();
      });
    },
  };
}
