import { ServerType, type TopologyDescription, TopologyType } from "mongodb";

/**
 * Does the deployment support multi-document transactions, as the driver last saw it? The driver's
 * monitor asks every server `hello` when it connects and on every heartbeat (so again after each
 * reconnect), and publishes the resulting TopologyDescription (SDAM `topologyDescriptionChanged`).
 * Replica sets, sharded clusters and load balancers support transactions; a standalone server
 * does not. undefined: nothing known yet (no server answered).
 * https://github.com/mongodb/specifications/blob/master/source/server-discovery-and-monitoring/server-discovery-and-monitoring.md
 */
export function transactionsFromTopology(description: TopologyDescription | undefined): boolean | undefined {
  if (!description) return undefined;
  switch (description.type) {
    case TopologyType.ReplicaSetWithPrimary:
    case TopologyType.ReplicaSetNoPrimary:
    case TopologyType.Sharded:
    case TopologyType.LoadBalanced:
      return true;
    case TopologyType.Single: {
      const types = [...description.servers.values()].map((s) => s.type);
      if (types.includes(ServerType.Standalone)) return false;
      const capable: string[] = [ServerType.RSPrimary, ServerType.RSSecondary, ServerType.Mongos, ServerType.LoadBalancer];
      return types.some((t) => capable.includes(t)) ? true : undefined;
    }
    default:
      return undefined;
  }
}
