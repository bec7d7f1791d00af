// Changes made to the store by any instance, as far as caches care: a key whose status changed
// (revoked, deprecated), a tenant policy that changed, a revoked session, and new keys and sessions
// (for callers' negative caches: WatchInvalidations). Optional: a store that cannot watch
// (the embedded one, or MongoDB without change streams) has none, and caches rely on their TTL.
// A tenant-wide session revoke arrives as one `session` change per session.
export type StoreChange =
  /** A key's status changed (`status`: the new one, when the feed knows it), or it was replaced or deleted. */
  | { kind: "key"; keyId: string; status?: string | undefined; suspended?: boolean | undefined }
  /**
   * A key was inserted (created or a rotation's successor); `tokenHash`: its stored hash (never the
   * token), for this instance's own not-found entry. Never sent to callers.
   */
  | { kind: "key_created"; keyId: string; tenantId?: string | undefined; tokenHash?: string | undefined }
  /** A session was inserted (`tokenHash` as for a key). */
  | { kind: "session_created"; sessionId: string; tenantId?: string | undefined; tokenHash?: string | undefined }
  /** A tenant's policy changed (`hipaaEnabled`: the new flag, when the feed's event carries it). */
  | { kind: "policy"; tenantId: string; hipaaEnabled?: boolean | undefined }
  /** A session was revoked. */
  | { kind: "session"; sessionId: string }
  /** Changes may have been missed (the feed reopened after an interruption): drop everything cached. */
  | { kind: "reset" };

/**
 * Is the feed live? connecting/reopening: caches rely on their TTL until the stream is back;
 * unsupported: the deployment has no change streams (TTL for good); stopped: unsubscribed;
 * resuming: the stream's cursor closed and the driver is resuming it (nothing is lost if it
 * succeeds, but nothing arrives until it has: not live); stalled: the stream has shown no life
 * (no event, no resume token) for longer than an idle stream's answers take (not live).
 */
export interface ChangeFeedStatus {
  state: "connecting" | "live" | "resuming" | "stalled" | "reopening" | "unsupported" | "stopped";
  /** Streams that ended and were reopened since start. */
  reopenings: number;
}

export interface StoreChangeFeed {
  /** Calls `listener` for every change from now on; returns a function that stops watching. */
  subscribe(listener: (change: StoreChange) => void): () => void;
  /** The feed's health, for metrics and /readyz (optional: a feed that cannot fail has none). */
  status?(): ChangeFeedStatus;
}
