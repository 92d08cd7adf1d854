/**
 * rotateSecurity's dependencies, built once per instance: the same adapters as deployModel (the
 * cluster reached through GKE, the apiserver with a token), only endpoints and credentials differ.
 */
import { clusterTargetOf, lazyCluster } from '../deploy/deps';
import { KubeApplier } from '../execute/kube-applier';
import type { Config } from '../runtime/config';
import { buildSharedDeps } from '../wiring/shared-deps';
import { registerWarmUp } from '../wiring/warm';
import { cryptoKeyMaterial, type RotateSecurityDeps } from './handler';

export async function buildRotateSecurityDeps(config: Config): Promise<RotateSecurityDeps> {
  // The cluster's clients load on the first call a plan makes (shared/wiring/lazy.ts).
  const cluster = lazyCluster(clusterTargetOf(config));
  const shared = await buildSharedDeps(config);
  const deps: RotateSecurityDeps = {
    ...shared,
    nodePools: cluster.nodePools,
    kubeObjects: cluster.kubeObjects,
    kube: new KubeApplier({ objects: cluster.kubeObjects, clock: shared.clock, logger: shared.log }),
    keyMaterial: cryptoKeyMaterial,
  };
  // A rotation connects to the cluster as it arrives (shared/wiring/warm.ts).
  registerWarmUp(deps, cluster.connection);
  return deps;
}
