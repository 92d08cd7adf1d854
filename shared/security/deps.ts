/**
 * rotateSecurity's dependencies, built once per instance: the same adapters as deployModel (the
 * cluster reached through GKE, the apiserver with a token), only endpoints and credentials differ.
 */
import { connectCluster } from '../adapters/cluster';
import { clusterTargetOf } from '../deploy/deps';
import { KubeApplier } from '../execute/kube-applier';
import type { Config } from '../runtime/config';
import { buildSharedDeps } from '../wiring/shared-deps';
import { cryptoKeyMaterial, type RotateSecurityDeps } from './handler';

export async function buildRotateSecurityDeps(config: Config): Promise<RotateSecurityDeps> {
  const [shared, cluster] = await Promise.all([
    buildSharedDeps(config),
    connectCluster(clusterTargetOf(config)),
  ]);
  return {
    ...shared,
    nodePools: cluster.nodePools,
    kubeObjects: cluster.kubeObjects,
    kube: new KubeApplier({ objects: cluster.kubeObjects, clock: shared.clock, logger: shared.log }),
    keyMaterial: cryptoKeyMaterial,
  };
}
