/**
 * The whole change a deploy makes, as one plan: node pool actions, Kubernetes objects, publish,
 * load. Pure: the handler observes, this decides, guardrails are checked on the result as a whole.
 */

import type { PoolDesired } from '../cluster/desired';
import { assertGuardrails } from '../cluster/guardrails';
import { nodePoolActions, observedCapacityOf, planNodePoolChanges } from '../cluster/nodepool';
import { planObjectChanges } from '../cluster/objects';
import { createPlan, type KubernetesObject, type NodePool, type Plan, type PlanAction } from '../domain/plan';
import { repositoryUri } from '../domain/repository';
import type { Guardrails } from '../policy';
import type { ModelConfig } from '../triton/model-config';

export interface DeploymentPlanInput {
  model: string;
  version: number;
  /** Identifies the uploads (see sourceFingerprint). */
  fingerprint: string;
  incomingBucket: string;
  config: ModelConfig;
  pool: PoolDesired;
  /** Every node pool of the cluster, as observed (for the guardrails' totals). */
  observedPools: readonly NodePool[];
  /** The live objects among the pool's desired ones (absent ones left out). */
  liveObjects: readonly KubernetesObject[];
  previousServing: number | undefined;
  zones: number;
  guardrails: Guardrails;
  clock: { nowMs(): number };
  planId?: string;
}

/**
 * @throws GuardrailViolation (permanent) when the plan would exceed a guardrail;
 *   NodePoolRecreateRequired when the pool differs in a field that cannot change in place.
 */
export function planDeployment(input: DeploymentPlanInput): Plan {
  const { pool } = input;
  const observedPool = input.observedPools.find((p) => p.name === pool.pool);
  const poolChanges = planNodePoolChanges(observedPool, pool.nodePool, {
    gpuClass: pool.gpuClass,
    zones: input.zones,
  });
  const target = `model/${input.model}`;
  const actions: PlanAction[] = [
    ...nodePoolActions(poolChanges, { allowRecreate: false }),
    ...planObjectChanges(pool.objects, input.liveObjects),
    {
      kind: 'publishModel',
      target,
      costDeltaPerHour: 0,
      reason: `upload ${input.fingerprint}`,
      before: { version: input.previousServing === undefined ? null : String(input.previousServing) },
      after: {
        model: input.model,
        version: String(input.version),
        source: `gs://${input.incomingBucket}/${input.model}/${input.version}/`,
        repository: repositoryUri(pool.repository),
      },
    },
    {
      kind: 'loadModel',
      target,
      costDeltaPerHour: 0,
      before:
        input.previousServing === undefined
          ? null
          : { state: 'READY', version: String(input.previousServing) },
      after: { pool: pool.pool, model: input.model, config: input.config },
    },
  ];
  const plan = createPlan(
    input.clock,
    `deploy ${input.model} version ${input.version}`,
    actions,
    input.planId,
  );
  const observed = observedCapacityOf(input.observedPools, {
    gpuClassFor: (p) => (p.name === pool.pool ? pool.gpuClass : undefined),
  });
  assertGuardrails(plan, observed, input.guardrails);
  return plan;
}
