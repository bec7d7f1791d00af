/**
 * Changes made to the store by any instance, as far as caches care: a key whose status changed
 * (revoked, deprecated) or a tenant policy that changed. Optional: a store that cannot watch
 * (the embedded one, or MongoDB without change streams) has none, and caches rely on their TTL.
 */
export type StoreChange =
  | { kind: "key"; keyId: string }
  | { kind: "policy"; tenantId: string }
  /** A session was revoked. */
  | { kind: "session"; sessionId: string }
  /** Changes may have been missed (the feed reopened after an interruption): drop everything cached. */
  | { kind: "reset" };

export interface StoreChangeFeed {
  /** Calls `listener` for every change from now on; returns a function that stops watching. */
  subscribe(listener: (change: StoreChange) => void): () => void;
}
