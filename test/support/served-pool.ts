/**
 * A local cloud with one model served by deployModel (pool `triton-l4`: node pool, Triton
 * Deployment, HPA), and the scaling functions' ports aimed at it: the starting point of the
 * scaleOnAlert and applySchedules tests.
 */
import path from 'node:path';
import { type LocalCloud, type LocalCloudOptions, startLocalCloud } from '../../infra/local/cloud';
import { localStorageClient } from '../../infra/local/storage/client';
import { deployModelFunction } from '../../shared/deploy/function';
import type { DeployModelDeps } from '../../shared/deploy/handler';
import type { TargetLocation, TargetPorts } from '../../shared/execute/targets';
import { invoke } from '../../shared/runtime/function';
import { localDeployHarness } from './deploy-harness';

export const SERVED_POOL = 'triton-l4';

export interface ServedPool {
  cloud: LocalCloud;
  deploy: DeployModelDeps;
  ports: TargetPorts;
  location: TargetLocation;
  buckets: { incoming: string; repository: string };
}

/** Deploys `add` v1 (a tiny ONNX model) until served, as Eventarc redelivers a retryable failure. */
export async function servedPool(
  prefix: string,
  options: LocalCloudOptions = {},
  /** More top-level policy lines (a Spot class: `gpuClasses: { l4: { spot: true } }`, pool `triton-l4-spot`). */
  policyLines: readonly string[] = [],
): Promise<ServedPool> {
  const buckets = { incoming: `${prefix}-incoming`, repository: `${prefix}-repo` };
  const cloud = await startLocalCloud({
    operationPhaseMs: 0,
    repositoryBucket: buckets.repository,
    ...options,
  });
  const storage = localStorageClient(cloud.endpoints.storage);
  const { deps } = await localDeployHarness(cloud, buckets, {}, policyLines);
  await storage
    .bucket(buckets.incoming)
    .upload(path.join(import.meta.dirname, '..', 'fixtures', 'onnx', 'add-dynamic-batch.onnx'), {
      destination: 'add/1/model.onnx',
    });
  const [meta] = await storage.bucket(buckets.incoming).file('add/1/model.onnx').getMetadata();
  let served = false;
  for (let attempt = 0; attempt < 6 && !served; attempt++) {
    const outcome = await invoke(deployModelFunction, deps, {
      id: `${prefix}-deploy-${attempt}`,
      specversion: '1.0',
      source: `//storage.googleapis.com/projects/_/buckets/${buckets.incoming}`,
      type: 'google.cloud.storage.object.v1.finalized',
      subject: 'objects/add/1/model.onnx',
      data: meta,
    }).catch(() => undefined);
    served = outcome?.status === 'applied';
    if (!served) await cloud.settled();
  }
  if (!served) throw new Error('the model was not served after 6 deliveries');
  return {
    cloud,
    deploy: deps,
    ports: { kube: deps.kubeObjects, nodePools: deps.nodePools, store: deps.objects },
    location: {
      cluster: deps.policy.cluster.name,
      namespace: deps.policy.cluster.namespace,
      stateBucket: deps.config.stateBucket,
      zones: await deps.zones(),
    },
    buckets,
  };
}
