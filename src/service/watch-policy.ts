// Who may call WatchInvalidations. The stream shows tenant, key and session ids as they change and
// replays up to WATCH_REPLAY_BUFFER past ones without any token, so, unlike Introspect, it is not
// open to anyone reaching the port in production: with NODE_ENV=production a watch is refused
// unless a caller restriction is configured (INTROSPECT_CALLER_TOKEN, INTROSPECT_REQUIRE_CLIENT_CERT;
// then it is checked as Introspect's) or WATCH_ALLOW_OPEN=true. Outside production it is open (the
// quick start's `npm run cli -- watch`), with one warning at start (docs/security.md).
import { DomainError } from "../domain/errors.js";
import type { CallContext } from "../transport/protocol/unary-handlers.js";

export const WATCH_REFUSED_MESSAGE =
  "WatchInvalidations is refused: no caller restriction is configured (set INTROSPECT_CALLER_TOKEN or INTROSPECT_REQUIRE_CLIENT_CERT, or WATCH_ALLOW_OPEN=true to serve it to anyone)";

export function createWatchCallerCheck(opts: {
  /** The Introspect caller restrictions (introspect-callers.ts); undefined: none configured. */
  introspectCallerCheck: ((ctx: CallContext) => void) | undefined;
  /** WATCH_ALLOW_OPEN (default: true outside NODE_ENV=production). */
  allowOpen: boolean;
  /** Called once when watches are open to anyone. */
  warnOpen: (message: string) => void;
}): ((ctx: CallContext) => void) | undefined {
  if (opts.introspectCallerCheck) return opts.introspectCallerCheck;
  if (!opts.allowOpen) {
    return () => {
      throw new DomainError("permission_denied", WATCH_REFUSED_MESSAGE);
    };
  }
  opts.warnOpen(
    "WatchInvalidations is open to anyone reaching the port (tenant, key and session ids as they change): set INTROSPECT_CALLER_TOKEN or INTROSPECT_REQUIRE_CLIENT_CERT to restrict it (docs/security.md)",
  );
  return undefined;
}
