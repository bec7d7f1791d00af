// The public keys that sign secret-scanning alerts (GitHub's key list), by key identifier.
import type { KeyObject } from "node:crypto";

export interface AlertKeySource {
  /**
   * The key with this identifier, or undefined when the list has none (after at most one refetch
   * per interval). Rejects with DomainError("unavailable") only when no list could be had yet (the
   * alert cannot be judged: the endpoint answers 503 and the sender retries).
   */
  key(identifier: string): Promise<KeyObject | undefined>;
}
