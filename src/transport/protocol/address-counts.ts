// How many of something (connections, half-sent streams, alert bodies) each client group holds,
// for the per-address bounds: a group's entry exists only while it holds at least one.
export interface AddressCounts {
  /** What `group` holds now (0 when nothing). */
  of(group: string): number;
  /** One more for `group`. */
  add(group: string): void;
  /** One fewer for `group`; its entry goes at 0. */
  release(group: string): void;
}

export function createAddressCounts(): AddressCounts {
  const counts = new Map<string, number>();
  return {
    of: (group) => counts.get(group) ?? 0,
    add(group) {
      counts.set(group, (counts.get(group) ?? 0) + 1);
    },
    release(group) {
      const left = (counts.get(group) ?? 1) - 1;
      if (left <= 0) counts.delete(group);
      else counts.set(group, left);
    },
  };
}
