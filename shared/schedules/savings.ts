/**
 * What a downtime saves (pure): the GPU-hours and dollars of the baseline's nodes for the time
 * since the downtime began, priced from the GPU catalog (with the policy's overrides). An estimate:
 * it counts the nodes the baseline had, as if they left when the window began (the autoscaler
 * removes idle nodes about 10 minutes later), and nothing for a pool without a baseline node count.
 */

import { placementFor } from '../cluster/desired';
import { LABELS } from '../cluster/names';
import { capacityOfNodePool } from '../cluster/nodepool';
import type { NodePool } from '../domain/plan';
import type { TargetRecord } from '../domain/target';
import { type GpuClass, resolveGpuClass } from '../gpu/catalog';
import type { Policy } from '../policy/schema';
import { HOUR_MS } from './calendar';

export interface Saving {
  gpuHours: number;
  usd: number;
}

export const NO_SAVING: Saving = { gpuHours: 0, usd: 0 };

export function addSavings(a: Saving, b: Saving): Saving {
  return { gpuHours: a.gpuHours + b.gpuHours, usd: a.usd + b.usd };
}

export function roundSaving(s: Saving): Saving {
  return { gpuHours: Math.round(s.gpuHours * 1000) / 1000, usd: Math.round(s.usd * 100) / 100 };
}

/** The policy's GPU class of a node pool (its label), for prices with overrides. */
export function gpuClassOfPool(policy: Policy, pool: NodePool): GpuClass | undefined {
  const id = pool.config?.labels?.[LABELS.gpuClass];
  if (!id) return undefined;
  try {
    return resolveGpuClass(id, policy.gpuClasses);
  } catch {
    return undefined;
  }
}

/** Per node of the pool: GPUs and dollars per hour. */
export function nodeRate(pool: NodePool, gpuClass: GpuClass | undefined): { gpus: number; usd: number } {
  try {
    const c = capacityOfNodePool({ ...pool, autoscaling: { enabled: false } }, gpuClass, {
      nodeCountPerZone: 1,
      zones: 1,
    });
    return { gpus: c.gpusPerNode, usd: c.nodeHourlyUsd };
  } catch {
    return { gpus: 0, usd: 0 };
  }
}

/** Saved so far by the target's downtime at `nowMs` (none when it is not in downtime). */
export function downtimeSaving(
  record: TargetRecord,
  pool: NodePool | null,
  gpuClass: GpuClass | undefined,
  nowMs: number,
): Saving {
  const claim = record.downtime;
  const base = record.baseline?.settings.nodePool;
  if (!claim || !base || !pool || base.nodeCountPerZone === null) return NO_SAVING;
  const keptNodes = claim.settings.nodePool === null ? base.nodeCountPerZone * base.zones : 0;
  const nodes = base.nodeCountPerZone * base.zones - keptNodes;
  const since = Math.max(Date.parse(claim.since), Date.parse(record.baseline?.recordedAt ?? claim.since));
  const hours = Math.max(0, nowMs - since) / HOUR_MS;
  const rate = nodeRate(pool, gpuClass);
  return { gpuHours: nodes * rate.gpus * hours, usd: nodes * rate.usd * hours };
}

/**
 * The expected rate of a target named in the policy, for `inferctl schedule preview`: its pool's
 * GPU class at the policy's minimum replicas (one Triton pod per node), or nothing for a pool the
 * policy does not place.
 */
export function expectedRate(policy: Policy, pool: string): Saving {
  const ids = new Set([
    policy.modelDefaults.gpuClass,
    ...Object.values(policy.models).flatMap((m) => (m.gpuClass ? [m.gpuClass] : [])),
  ]);
  for (const id of ids) {
    let placement: ReturnType<typeof placementFor>;
    try {
      placement = placementFor(policy, id);
    } catch {
      continue;
    }
    if (placement.pool !== pool) continue;
    const cls = placement.gpuClass;
    const machine = cls.machineType;
    const replicas = Math.max(
      policy.modelDefaults.replicas.min,
      ...Object.entries(policy.models)
        .filter(([, m]) => (m.gpuClass ?? policy.modelDefaults.gpuClass) === id)
        .map(([, m]) => m.replicas?.min ?? policy.modelDefaults.replicas.min),
    );
    const rate = nodeRate(
      { name: pool, config: { machineType: machine, spot: cls.spot, accelerators: [] } },
      cls,
    );
    return { gpuHours: replicas * rate.gpus, usd: replicas * rate.usd };
  }
  return NO_SAVING;
}
