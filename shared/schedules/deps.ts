/**
 * applySchedules' dependencies, built once per instance: the scaling functions' shared deps (ports,
 * executor, metrics), the registry's read side and the pools' Triton pods (serving drift).
 */
import { tritonPodsFinder } from '../adapters/triton-pods';
import { DEFAULT_ADMIN_HEADER, tritonSelectorLabels } from '../cluster/triton';
import { ModelRegistry } from '../deploy/registry';
import type { Config } from '../runtime/config';
import { buildScalingDeps } from '../scaling/deps';
import { registerWarmUp } from '../wiring/warm';
import type { ApplySchedulesDeps } from './handler';

/** Targets reconciled at once: enough to hide API latency, few enough for the apiserver's limits. */
export const DEFAULT_CONCURRENCY = 32;

export async function buildApplySchedulesDeps(config: Config): Promise<ApplySchedulesDeps> {
  const scaling = await buildScalingDeps(config);
  const findTritonPods = tritonPodsFinder({
    kubeObjects: scaling.ports.kube,
    urlTemplate: config.tritonUrl,
    adminHeader: DEFAULT_ADMIN_HEADER,
  });
  const deps: ApplySchedulesDeps = {
    ...scaling,
    registry: new ModelRegistry(scaling.objects, config.stateBucket),
    tritonPods: ({ pool, namespace, keys }) =>
      findTritonPods({ pool, namespace, keys, selector: tritonSelectorLabels({ pool }) }),
    concurrency: DEFAULT_CONCURRENCY,
  };
  // A tick connects to the cluster as it arrives (shared/wiring/warm.ts): asking for the zones
  // makes the connection.
  const { zones } = scaling.location;
  registerWarmUp(deps, async () => (typeof zones === 'function' ? zones() : zones));
  return deps;
}
