// Changes made to the store by any instance, as far as caches care: a key whose status changed
// (revoked, deprecated) or a tenant policy that changed. Optional: a store that cannot watch
// (the embedded one, or MongoDB without change streams) has none, and caches rely on their TTL.
export type StoreChange =
  | { kind: "key"; keyId: string }
  | { kind: "policy"; tenantId: string }
  /** A session was revoked. */
  | { kind: "session"; sessionId: string }
  /** Changes may have been missed (the feed reopened after an interruption): drop everything cached. */
  | { kind: "reset" };

/**
 * Is the feed live? connecting/reopening: caches rely on their TTL until the stream is back;
 * unsupported: the deployment has no change streams (TTL for good); stopped: unsubscribed.
 */
export interface ChangeFeedStatus {
  state: "connecting" | "live" | "reopening" | "unsupported" | "stopped";
  /** Streams that ended and were reopened since start. */
  reopenings: number;
}

export interface StoreChangeFeed {
  /** Calls `listener` for every change from now on; returns a function that stops watching. */
  subscribe(listener: (change: StoreChange) => void): () => void;
  /** The feed's health, for metrics and /readyz (optional: a feed that cannot fail has none). */
  status?(): ChangeFeedStatus;
}
