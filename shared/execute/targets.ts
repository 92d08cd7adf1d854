/**
 * Reads serving targets (a pool's Triton Deployment, its HPA, its GPU node pool, and the target's
 * record in the state bucket) through the ports, for the scaling deciders. Every read of one target
 * runs at once; many targets are read with bounded concurrency.
 */
import { parseTargetRecord, targetRecordName } from '../domain/target';
import type { KubeObjects, LiveObject } from '../ports/kubernetes';
import type { NodePool, NodePools } from '../ports/nodepools';
import type { ObjectInfo, ObjectStore } from '../ports/storage';
import { PermanentError } from '../runtime/errors';
import type { ObservedDeployment, ObservedHpa, ObservedTarget } from '../scaling/target';

export interface TargetPorts {
  kube: KubeObjects;
  nodePools: NodePools;
  store: ObjectStore;
}

export interface TargetLocation {
  /** GKE cluster name (records are kept per cluster). */
  cluster: string;
  namespace: string;
  stateBucket: string;
  /** Zones of the cluster's pools, for pools that do not list theirs (read once, on first need). */
  zones: number | (() => Promise<number>);
}

/** A record that exists but cannot be read: nothing is planned over it until someone looks. */
export class TargetRecordInvalid extends PermanentError {
  override name = 'TargetRecordInvalid';
}

function num(value: unknown, fallback = 0): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function field(obj: LiveObject, ...path: string[]): unknown {
  let cur: unknown = obj;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export function observedDeploymentOf(live: LiveObject): ObservedDeployment {
  const replicas = field(live, 'spec', 'replicas');
  const created = field(live, 'metadata', 'creationTimestamp');
  return {
    name: live.metadata.name,
    replicas: typeof replicas === 'number' ? replicas : null,
    readyReplicas: num(field(live, 'status', 'readyReplicas')),
    generation: num(live.metadata.generation),
    annotations: live.metadata.annotations ?? {},
    createdAt: typeof created === 'string' ? created : null,
    ...(live.metadata.resourceVersion ? { resourceVersion: live.metadata.resourceVersion } : {}),
  };
}

export function observedHpaOf(live: LiveObject): ObservedHpa {
  return {
    name: live.metadata.name,
    minReplicas: num(field(live, 'spec', 'minReplicas'), 1),
    maxReplicas: num(field(live, 'spec', 'maxReplicas'), 1),
    currentReplicas: num(field(live, 'status', 'currentReplicas')),
    desiredReplicas: num(field(live, 'status', 'desiredReplicas')),
    generation: num(live.metadata.generation),
  };
}

/**
 * What a caller over many targets read once for all of them this tick, so that observing one
 * target costs no read of its own for it (one LIST per kind instead of a GET per target).
 */
export interface KnownState {
  /** The cluster's node pools as just listed. */
  nodePools?: readonly NodePool[];
  /** The namespace's Deployments as just listed, by name (absent: there is none). */
  deployments?: ReadonlyMap<string, LiveObject>;
  /** The namespace's HorizontalPodAutoscalers as just listed, by name (absent: there is none). */
  hpas?: ReadonlyMap<string, LiveObject>;
  /**
   * The target records just listed, by pool: a pool without one has no record and is not read
   * (a record made since then fails the write's does-not-exist precondition, and is re-planned).
   */
  records?: ReadonlyMap<string, ObjectInfo>;
}

/**
 * One target, by pool name (the Deployment and HPA carry the pool's name). `known`: what the
 * caller just listed for every target of its tick; what it names is not read again (a re-plan
 * passes nothing and reads everything fresh).
 */
export async function observeTarget(
  ports: TargetPorts,
  at: TargetLocation,
  pool: string,
  known: KnownState = {},
): Promise<ObservedTarget> {
  const ref = { namespace: at.namespace, name: pool };
  const recordRef = { bucket: at.stateBucket, name: targetRecordName(at.cluster, pool) };
  const [deployment, hpa, nodePool, stored] = await Promise.all([
    known.deployments
      ? known.deployments.get(pool)
      : ports.kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', ...ref }),
    known.hpas
      ? known.hpas.get(pool)
      : ports.kube.get({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', ...ref }),
    known.nodePools ? known.nodePools.find((p) => p.name === pool) : ports.nodePools.get(pool),
    known.records && !known.records.has(pool) ? undefined : ports.store.readText(recordRef),
  ]);
  const nodeCountPerZone = nodePool ? ((await ports.nodePools.nodeCountPerZone(nodePool)) ?? null) : null;
  let record: ObservedTarget['record'] = null;
  if (stored) {
    const parsed = parseTargetRecord(stored.text);
    if (!parsed.ok) {
      throw new TargetRecordInvalid(
        'TARGET_RECORD_INVALID',
        `gs://${recordRef.bucket}/${recordRef.name} does not parse (${parsed.message}); fix or delete it`,
      );
    }
    record = { record: parsed.record, generation: stored.info.generation };
  }
  // The on-demand pool a scale-out added after a stockout, read only while the record names one.
  const onDemandName = record?.record.scaleOutOnDemand?.pool;
  const onDemandPool =
    onDemandName === undefined
      ? undefined
      : ((known.nodePools
          ? known.nodePools.find((p) => p.name === onDemandName)
          : await ports.nodePools.get(onDemandName)) ?? null);
  return {
    pool,
    namespace: at.namespace,
    deployment: deployment ? observedDeploymentOf(deployment) : null,
    hpa: hpa ? observedHpaOf(hpa) : null,
    nodePool: nodePool ?? null,
    nodeCountPerZone,
    zones: nodePool?.locations?.length || (typeof at.zones === 'number' ? at.zones : await at.zones()),
    record,
    ...(onDemandPool === undefined ? {} : { onDemandPool }),
  };
}

/** Many targets, `concurrency` at a time, in the order given; a failure is returned, not thrown. */
export async function observeTargets(
  ports: TargetPorts,
  at: TargetLocation,
  pools: readonly string[],
  concurrency = 8,
): Promise<
  ({ pool: string; ok: true; target: ObservedTarget } | { pool: string; ok: false; error: unknown })[]
> {
  const results = new Array<
    { pool: string; ok: true; target: ObservedTarget } | { pool: string; ok: false; error: unknown }
  >(pools.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= pools.length) return;
      const pool = pools[i] as string;
      try {
        results[i] = { pool, ok: true, target: await observeTarget(ports, at, pool) };
      } catch (error) {
        results[i] = { pool, ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, pools.length)) }, worker));
  return results;
}

/** The cluster's zone count (read on first need when the cluster is connected lazily). */
export async function locationZones(at: Pick<TargetLocation, 'zones'>): Promise<number> {
  return typeof at.zones === 'number' ? at.zones : at.zones();
}
