/**
 * For tests that run the local GKE server without a Kubernetes cluster: a pool's live nodes per
 * zone read from the server's live view, standing in for the Node objects that production counts
 * (`kubernetesNodeCount`). Uneven zones count as unknown, as there.
 */
import type { GkeServer } from '../../infra/local/gke/index';
import type { NodeCountSource } from '../../shared/adapters/gke';

export function gkeViewNodeCount(gke: Pick<GkeServer, 'nodePools'>): NodeCountSource {
  return async (pool) => {
    const view = gke.nodePools().find((p) => p.name === pool.name);
    if (!view) return undefined;
    const counts = view.zones.map((z) => view.nodeCountPerZone[z] ?? 0);
    if (counts.length === 0) return 0;
    return counts.every((c) => c === counts[0]) ? counts[0] : undefined;
  };
}
