import { type Db, ServerType, type TopologyDescription, TopologyType } from "mongodb";

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
      const capable: string[] = [
        ServerType.RSPrimary,
        ServerType.RSSecondary,
        ServerType.Mongos,
        ServerType.LoadBalancer,
      ];
      return types.some((t) => capable.includes(t)) ? true : undefined;
    }
    case TopologyType.Unknown:
      return undefined;
  }
}

/** Is the deployment a sharded cluster (mongos: hello answers `msg: "isdbgrid"`), or behind a load balancer (which may front mongos)? */
export function isShardedTopology(description: TopologyDescription | undefined): boolean {
  if (!description) return false;
  if (description.type === TopologyType.Sharded || description.type === TopologyType.LoadBalanced) return true;
  return [...description.servers.values()].some(
    (s) => s.type === ServerType.Mongos || s.type === ServerType.LoadBalancer,
  );
}

/**
 * Which of `names` are sharded collections. Asked through mongos with `collStats`, which the
 * readWrite role may run (read includes the collStats action; config.collections would need read
 * on the config database): on mongos its answer carries `sharded: true|false`. A collection that
 * does not exist yet (NamespaceNotFound, 26) is not sharded.
 * https://www.mongodb.com/docs/manual/reference/command/collStats/
 */
export async function shardedCollections(db: Db, names: readonly string[]): Promise<string[]> {
  const sharded: string[] = [];
  for (const name of names) {
    try {
      const stats = await db.command({ collStats: name, scale: 1 });
      if (stats["sharded"] === true) sharded.push(name);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 26) throw err;
    }
  }
  return sharded;
}
