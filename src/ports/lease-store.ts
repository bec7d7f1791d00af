// Named leases the store decides atomically: the admin bootstrap uses one ("admin-bootstrap") so
// that however many instances start at once, at most one of them creates the first admin key.
export interface LeaseStore {
  /**
   * Takes the lease `name` for `holder` until `until` when nobody holds it (never claimed, released,
   * or its `until` <= `now`), or renews it when `holder` already holds it. Answers true when
   * `holder` holds it afterwards, false when another holder's lease is still running. One atomic
   * conditional write: of any number of concurrent claimants, exactly one wins.
   */
  claimLease(args: { name: string; holder: string; now: Date; until: Date }): Promise<boolean>;
  /** Ends the lease when `holder` holds it; changes nothing otherwise. */
  releaseLease(args: { name: string; holder: string }): Promise<void>;
}
