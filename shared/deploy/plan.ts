/**
 * The whole change a deploy makes, as one plan: node pool actions, Kubernetes objects, the
 * repository's storage writes (config last), a load on every ready Triton pod, and the registry
 * record. Pure: the handler observes, this decides, the guardrails are checked on the result as a
 * whole, and the executor runs exactly these actions. A rollback is a plan too (`planRollback`).
 */

import type { PoolDesired } from '../cluster/desired';
import { assertGuardrails } from '../cluster/guardrails';
import { nodePoolActions, observedCapacityOf, planNodePoolChanges } from '../cluster/nodepool';
import { planObjectChanges } from '../cluster/objects';
import {
  createPlan,
  type KubernetesObject,
  type LoadModelAction,
  modelOnPodTarget,
  type NodePool,
  type Plan,
  type PlanAction,
  type StorageObjectRef,
  storageTarget,
  type UnloadModelAction,
  type WriteStorageObjectAction,
} from '../domain/plan';
import type { ModelRecord, PoolIndex } from '../domain/registry';
import type { TargetRecord } from '../domain/target';
import type { Guardrails } from '../policy';
import type { ModelConfig } from '../triton/model-config';
import {
  type PublishRequest,
  planPublish,
  planUnpublish,
  type RepositoryObservation,
  type UnpublishRequest,
} from './publish';
import {
  type Deferral,
  indexDeferred,
  indexServing,
  poolIndexText,
  recordDeferred,
  recordFailed,
  recordServing,
  recordText,
  type VersionFacts,
} from './records';

/** A ready Triton pod of the pool, and the model's state on it when observed. */
export interface ObservedPod {
  pod: string;
  model: { state: string | null; version?: string } | null;
}

export interface RegistryObservation {
  object: StorageObjectRef;
  record: ModelRecord | undefined;
  /** undefined: no record yet. */
  generation: string | undefined;
}

/** The pool's index as observed (or, when it does not exist yet, as built from the records). */
export interface PoolIndexObservation {
  object: StorageObjectRef;
  index: PoolIndex;
  /** undefined: the index object does not exist yet. */
  generation: string | undefined;
}

export interface DeploymentPlanInput {
  publish: PublishRequest;
  /** The Triton ModelConfig JSON sent with each load. */
  config: ModelConfig;
  facts: VersionFacts;
  aliases: readonly string[];
  readinessTimeoutSeconds: number;
  pool: PoolDesired;
  /** Every node pool of the cluster, as observed (for the guardrails' totals). */
  observedPools: readonly NodePool[];
  /** Live nodes per zone of the pool, when known. */
  observedNodeCountPerZone?: number;
  /** The live objects among the pool's desired ones (absent ones left out). */
  liveObjects: readonly KubernetesObject[];
  repository: RepositoryObservation;
  registry: RegistryObservation;
  poolIndex: PoolIndexObservation;
  /** The pool's ready pods. None: the plan stops after publishing (the event is retried). */
  pods: readonly ObservedPod[];
  /**
   * The pool is down for a schedule: with no ready pod, the plan publishes and records the version
   * as deferred (its pods load it when the pool is restored) instead of waiting for a pod.
   */
  deferral?: Deferral;
  zones: number;
  guardrails: Guardrails;
  clock: { nowMs(): number };
  planId?: string;
}

function poolIndexWrite(
  observed: PoolIndexObservation,
  index: PoolIndex,
  reason: string,
): WriteStorageObjectAction {
  return {
    kind: 'writeStorageObject',
    target: storageTarget(observed.object),
    costDeltaPerHour: 0,
    reason,
    before: observed.generation === undefined ? null : { generation: observed.generation },
    after: { object: observed.object, text: poolIndexText(index), contentType: 'application/json' },
  };
}

function registryWrite(
  registry: RegistryObservation,
  record: ModelRecord,
  reason: string,
): WriteStorageObjectAction {
  return {
    kind: 'writeStorageObject',
    target: storageTarget(registry.object),
    costDeltaPerHour: 0,
    reason,
    before: registry.generation === undefined ? null : { generation: registry.generation },
    after: { object: registry.object, text: recordText(record), contentType: 'application/json' },
  };
}

/**
 * The pool is down for a schedule and not woken: a deploy that finds no ready pod records its
 * version as deferred rather than waiting (a weekend window outlasts any redelivery).
 */
export function deferralFor(
  pool: string,
  record: TargetRecord | undefined,
  nowMs: number,
): Deferral | undefined {
  const downtime = record?.downtime;
  if (!downtime) return undefined;
  if (record.wakeUntil !== null && Date.parse(record.wakeUntil) > nowMs) return undefined;
  return { pool, until: downtime.until };
}

/**
 * @throws GuardrailViolation (permanent) when the plan would exceed a guardrail;
 *   NodePoolRecreateRequired when the pool differs in a field that cannot change in place.
 */
export function planDeployment(input: DeploymentPlanInput): Plan {
  const { pool, publish } = input;
  const observedPool = input.observedPools.find((p) => p.name === pool.pool);
  const poolChanges = planNodePoolChanges(observedPool, pool.nodePool, {
    gpuClass: pool.gpuClass,
    zones: input.zones,
    ...(input.observedNodeCountPerZone === undefined
      ? {}
      : { observedNodeCountPerZone: input.observedNodeCountPerZone }),
  });
  const loads: LoadModelAction[] = input.pods.map((p) => ({
    kind: 'loadModel',
    target: modelOnPodTarget(p.pod, publish.model),
    costDeltaPerHour: 0,
    reason: `serve version ${publish.version}`,
    before: p.model,
    after: {
      pool: pool.pool,
      pod: p.pod,
      model: publish.model,
      version: publish.version,
      config: input.config,
      readinessTimeoutSeconds: input.readinessTimeoutSeconds,
    },
  }));
  const nowIso = new Date(input.clock.nowMs()).toISOString();
  const deferral = loads.length === 0 ? input.deferral : undefined;
  const index =
    loads.length === 0
      ? deferral
        ? indexDeferred(input.poolIndex.index, publish.model, publish.version, nowIso)
        : undefined
      : indexServing(input.poolIndex.index, publish.model, publish.version, pool.gpuClass.id, nowIso);
  const actions: PlanAction[] = [
    ...nodePoolActions(poolChanges, { allowRecreate: false }),
    ...planObjectChanges(pool.objects, input.liveObjects),
    ...planPublish(publish, input.repository),
    ...loads,
    // The index before the record: a crash in between leaves the record not READY, and the
    // redelivery writes both.
    ...(index
      ? [
          poolIndexWrite(
            input.poolIndex,
            index,
            deferral
              ? `${pool.pool} loads ${publish.model} version ${publish.version} when it is restored`
              : `${pool.pool} serves ${publish.model} version ${publish.version}`,
          ),
        ]
      : []),
    ...(deferral
      ? [
          registryWrite(
            input.registry,
            recordDeferred(input.registry.record, input.facts, input.aliases, deferral, nowIso),
            `${publish.model} version ${publish.version} waits for ${pool.pool}'s restore`,
          ),
        ]
      : []),
    ...(loads.length === 0
      ? []
      : [
          registryWrite(
            input.registry,
            recordServing(input.registry.record, input.facts, input.aliases, nowIso),
            `${publish.model} version ${publish.version} serves`,
          ),
        ]),
  ];
  const plan = createPlan(
    input.clock,
    deferral
      ? `deploy ${publish.model} version ${publish.version}; ${pool.pool} is in a scheduled downtime${deferral.until ? ` until ${deferral.until}` : ''}: its pods load it when it is restored`
      : loads.length === 0
        ? `deploy ${publish.model} version ${publish.version}; no ready Triton pod on ${pool.pool} yet: the loads follow on a redelivery`
        : `deploy ${publish.model} version ${publish.version}`,
    actions,
    input.planId,
  );
  assertGuardrails(plan, deployCapacity(input), input.guardrails);
  return plan;
}

function deployCapacity(input: Pick<DeploymentPlanInput, 'observedPools' | 'pool'>) {
  return observedCapacityOf(input.observedPools, {
    gpuClassFor: (p) => (p.name === input.pool.pool ? input.pool.gpuClass : undefined),
  });
}

/** The guardrail check the executor runs on this deploy's plan and every re-plan of it. */
export function deployGuardrails(input: Pick<DeploymentPlanInput, 'observedPools' | 'pool' | 'guardrails'>) {
  const observed = deployCapacity(input);
  return (plan: Plan) => assertGuardrails(plan, observed, input.guardrails);
}

export interface RollbackInput {
  unpublish: UnpublishRequest;
  /** What the repository holds now, after the failed load. */
  repository: RepositoryObservation;
  registry: RegistryObservation;
  facts: VersionFacts;
  failure: string;
  pool: string;
  /** Pods that were asked to load the version. */
  pods: readonly string[];
  /** A version served before: pods reload it from the restored repository; otherwise they unload. */
  hadPrevious: boolean;
  clock: { nowMs(): number };
  planId?: string;
}

/**
 * Undoing a failed deploy, in two plans: the repository and the registry first (the previous
 * version keeps serving, and the record says why), then the pods that took the new version
 * reload the restored config or drop the model. The second is best effort: a pod that cannot be
 * reached reloads the repository when it restarts.
 */
export function planRollback(input: RollbackInput): { repository: Plan; pods: Plan } {
  const nowIso = new Date(input.clock.nowMs()).toISOString();
  const repository = createPlan(
    input.clock,
    `roll back ${input.unpublish.model} version ${input.unpublish.version}`,
    [
      ...planUnpublish(input.unpublish, input.repository),
      registryWrite(
        input.registry,
        recordFailed(input.registry.record, input.facts, input.failure, nowIso),
        `${input.unpublish.model} version ${input.unpublish.version} failed`,
      ),
    ],
    input.planId === undefined ? undefined : `${input.planId}-rollback`,
  );
  const model = input.unpublish.model;
  const restore: Array<LoadModelAction | UnloadModelAction> = input.pods.map((pod) =>
    input.hadPrevious
      ? {
          kind: 'loadModel',
          target: modelOnPodTarget(pod, model),
          costDeltaPerHour: 0,
          reason: 'rollback: reload the restored config',
          before: null,
          after: { pool: input.pool, pod, model },
        }
      : {
          kind: 'unloadModel',
          target: modelOnPodTarget(pod, model),
          costDeltaPerHour: 0,
          reason: 'rollback: no version served before',
          before: { pool: input.pool, pod, model, state: null },
          after: null,
        },
  );
  const pods = createPlan(
    input.clock,
    `restore ${model} on the pods of ${input.pool}`,
    restore,
    input.planId === undefined ? undefined : `${input.planId}-restore`,
  );
  return { repository, pods };
}
