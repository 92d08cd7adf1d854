/**
 * Stockout fallback, pure: a scale-out GKE could not fulfil in some zones widens the node pool to
 * the region's other zones (each new zone gets the pool's size per zone), within the guardrails;
 * the restore takes the added zones away again, after the workload and capacity went down.
 */
import { capacityOfNodePool } from '../cluster/nodepool';
import {
  costDelta,
  type NodePool,
  nodePoolTarget,
  type SetNodePoolLocationsAction,
  storageTarget,
  type WriteStorageObjectAction,
} from '../domain/plan';
import { serializeTargetRecord, type TargetRecord, targetRecordName } from '../domain/target';
import type { GpuClass } from '../gpu/catalog';
import type { ObservedTarget } from '../scaling/target';

export type ZoneFallback =
  | { ok: true; locations: string[]; added: string[] }
  | { ok: false; message: string };

/** The pool's zones plus as many of the cluster's other zones, not reported short, as fell short. */
export function widenZones(
  poolLocations: readonly string[],
  clusterZones: readonly string[],
  shortZones: readonly string[],
): ZoneFallback {
  const short = new Set(shortZones);
  // As many new zones as zones fell short (each new zone gets the pool's size per zone).
  const added = clusterZones
    .filter((z) => !poolLocations.includes(z) && !short.has(z))
    .slice(0, Math.max(1, shortZones.length));
  if (added.length === 0) {
    return {
      ok: false,
      message: `no other zone to try: the cluster's zones are ${clusterZones.join(', ') || 'unknown'}, short: ${shortZones.join(', ') || 'unnamed'}`,
    };
  }
  return { ok: true, locations: [...poolLocations, ...added], added };
}

export function locationsAction(
  pool: NodePool,
  locations: readonly string[],
  nodeCountPerZone: number | null,
  gpuClass: GpuClass | undefined,
  reason: string,
): SetNodePoolLocationsAction {
  const before = [...(pool.locations ?? [])];
  const capacity = (zones: readonly string[]) =>
    capacityOfNodePool({ ...pool, locations: [...zones] }, gpuClass, {
      nodeCountPerZone: nodeCountPerZone ?? 0,
      zones: zones.length,
    });
  const capacityBefore = capacity(before);
  const capacityAfter = capacity(locations);
  return {
    kind: 'setNodePoolLocations',
    target: nodePoolTarget(pool.name ?? ''),
    before: { locations: before },
    after: { locations: [...locations] },
    capacityBefore,
    capacityAfter,
    costDeltaPerHour: costDelta(capacityBefore, capacityAfter),
    reason,
  };
}

/** The record alone, written conditionally on the generation observed (a skip changes no settings). */
export function recordWrite(
  observed: ObservedTarget,
  record: TargetRecord,
  at: { stateBucket: string; cluster: string; now: string },
  reason: string,
): WriteStorageObjectAction {
  const name = targetRecordName(at.cluster, observed.pool);
  return {
    kind: 'writeStorageObject',
    target: storageTarget({ bucket: at.stateBucket, name }),
    before: observed.record ? { generation: observed.record.generation } : null,
    after: {
      object: { bucket: at.stateBucket, name },
      text: serializeTargetRecord({ ...record, updatedAt: at.now }),
      contentType: 'application/json',
    },
    costDeltaPerHour: 0,
    reason: `target state: ${reason}`,
  };
}
