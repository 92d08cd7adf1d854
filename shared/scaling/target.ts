/**
 * One serving target (a pool's Triton Deployment, its HPA, its GPU node pool) as scaleOnAlert and
 * applySchedules see it, and the one pure planner both use to move it: a decider changes the
 * target's record (adds or removes its claim, see shared/domain/target.ts) and `planTarget`
 * turns the new record into plan actions: the record write first (the baseline is recorded before
 * anything changes), then the settings changes, ordered so capacity arrives before the workload
 * that needs it and leaves after it.
 */

import { capacityOfNodePool } from '../cluster/nodepool';
import {
  costDelta,
  type KubernetesObject,
  type NodePool,
  type NodePoolAutoscaling,
  nodePoolTarget,
  objectTarget,
  type PlanAction,
  type PoolCapacity,
  storageTarget,
} from '../domain/plan';
import {
  type NodePoolSettings,
  serializeTargetRecord,
  type TargetAutoscaling,
  type TargetRecord,
  type TargetSettings,
  targetRecordName,
} from '../domain/target';
import type { GpuClass } from '../gpu/catalog';

/** The field manager of the scaling functions' HPA changes (deployModel applies as `inferplane`). */
export const SCALING_FIELD_MANAGER = 'inferplane-scaling';

export interface ObservedDeployment {
  name: string;
  /** `spec.replicas` (null when unset). */
  replicas: number | null;
  readyReplicas: number;
  generation: number;
  annotations: Readonly<Record<string, string>>;
  /** `metadata.creationTimestamp`. */
  createdAt: string | null;
  /** `metadata.resourceVersion` as observed (also the Scale subresource's). */
  resourceVersion?: string;
}

export interface ObservedHpa {
  name: string;
  minReplicas: number;
  maxReplicas: number;
  currentReplicas: number;
  desiredReplicas: number;
  generation: number;
}

/** What was read of one target, with its record. */
export interface ObservedTarget {
  pool: string;
  namespace: string;
  deployment: ObservedDeployment | null;
  hpa: ObservedHpa | null;
  nodePool: NodePool | null;
  /** Live nodes per zone (null: could not be told). */
  nodeCountPerZone: number | null;
  zones: number;
  /** The record and its generation; null when there is none yet. */
  record: { record: TargetRecord; generation: string } | null;
  /**
   * The on-demand pool the record's `scaleOutOnDemand` names, as observed (null: gone; undefined:
   * not read, or the record names none).
   */
  onDemandPool?: NodePool | null;
}

export function hasClaims(record: TargetRecord | null | undefined): boolean {
  return record != null && (record.downtime !== null || record.scaleOut !== null);
}

function toInt(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : 0;
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

/** A node pool's autoscaling as totals across zones. */
export function autoscalingOf(pool: NodePool, zones: number): TargetAutoscaling {
  const a = pool.autoscaling;
  if (a?.enabled !== true) return { enabled: false, totalMinNodeCount: 0, totalMaxNodeCount: 0 };
  const totalMin = toInt(a.totalMinNodeCount) || toInt(a.minNodeCount) * zones;
  const totalMax = toInt(a.totalMaxNodeCount) || toInt(a.maxNodeCount) * zones;
  const policy = a.locationPolicy;
  return {
    enabled: true,
    totalMinNodeCount: totalMin,
    totalMaxNodeCount: totalMax,
    ...(typeof policy === 'string' && policy !== 'LOCATION_POLICY_UNSPECIFIED'
      ? { locationPolicy: policy }
      : {}),
  };
}

export function liveSettings(observed: ObservedTarget): TargetSettings {
  return {
    replicas: observed.deployment ? observed.deployment.replicas : null,
    hpa: observed.hpa
      ? { minReplicas: observed.hpa.minReplicas, maxReplicas: observed.hpa.maxReplicas }
      : null,
    nodePool: observed.nodePool
      ? {
          autoscaling: autoscalingOf(observed.nodePool, observed.zones),
          nodeCountPerZone: observed.nodeCountPerZone,
          zones: observed.zones,
        }
      : null,
  };
}

/** A field a human changed since the control plane last set it; the human's value is kept. */
export interface DriftedField {
  field: string;
  applied: number | boolean | null;
  live: number | boolean | null;
}

export interface Restore {
  settings: TargetSettings;
  drift: DriftedField[];
}

/**
 * What restoring the baseline means given live state: each field goes back to the baseline unless
 * someone changed it since we last set it (then their value wins, reported as drift). Replicas are
 * only set when the workload is at zero (above zero the HPA owns them); a pool's node count is
 * raised to the baseline's (warm capacity; the autoscaler may shrink it later), and set exactly
 * only when autoscaling is off.
 */
export function restoreSettings(
  baseline: TargetSettings,
  lastApplied: TargetSettings | null,
  live: TargetSettings,
  previousApplied: TargetSettings | null = null,
): Restore {
  const drift: DriftedField[] = [];
  // A field still at what an earlier plan set (one that stopped before its later steps) is ours.
  const earlier = (field: string): number | boolean | undefined => fieldOf(previousApplied, field);
  const pick = <T extends number | boolean>(field: string, base: T, applied: T | undefined, now: T): T => {
    if (applied !== undefined && now !== applied && now !== earlier(field)) {
      drift.push({ field, applied, live: now });
      return now;
    }
    return base;
  };

  let replicas = live.replicas;
  if (live.replicas === 0 && baseline.replicas !== null && baseline.replicas > 0) {
    replicas = baseline.replicas;
  } else if (lastApplied?.replicas === 0 && live.replicas !== null && live.replicas !== 0) {
    drift.push({ field: 'replicas', applied: 0, live: live.replicas });
  }

  let hpa = live.hpa;
  if (live.hpa && baseline.hpa) {
    const applied = lastApplied?.hpa ?? undefined;
    hpa = {
      minReplicas: pick(
        'hpa.minReplicas',
        baseline.hpa.minReplicas,
        applied?.minReplicas,
        live.hpa.minReplicas,
      ),
      maxReplicas: pick(
        'hpa.maxReplicas',
        baseline.hpa.maxReplicas,
        applied?.maxReplicas,
        live.hpa.maxReplicas,
      ),
    };
    if (hpa.maxReplicas < hpa.minReplicas) hpa = { ...hpa, maxReplicas: hpa.minReplicas };
  }

  let nodePool = live.nodePool;
  if (live.nodePool && baseline.nodePool) {
    const applied = lastApplied?.nodePool?.autoscaling;
    const b = baseline.nodePool.autoscaling;
    const l = live.nodePool.autoscaling;
    const enabled = pick('nodePool.autoscaling.enabled', b.enabled, applied?.enabled, l.enabled);
    const autoscaling: TargetAutoscaling = enabled
      ? {
          enabled,
          totalMinNodeCount: pick(
            'nodePool.autoscaling.totalMinNodeCount',
            b.totalMinNodeCount,
            applied?.enabled ? applied.totalMinNodeCount : undefined,
            l.totalMinNodeCount,
          ),
          totalMaxNodeCount: pick(
            'nodePool.autoscaling.totalMaxNodeCount',
            b.totalMaxNodeCount,
            applied?.enabled ? applied.totalMaxNodeCount : undefined,
            l.totalMaxNodeCount,
          ),
          ...((b.locationPolicy ?? l.locationPolicy)
            ? { locationPolicy: b.locationPolicy ?? l.locationPolicy }
            : {}),
        }
      : { enabled: false, totalMinNodeCount: 0, totalMaxNodeCount: 0 };
    const baseCount = baseline.nodePool.nodeCountPerZone;
    const liveCount = live.nodePool.nodeCountPerZone;
    let count = liveCount;
    if (baseCount !== null) {
      if (!autoscaling.enabled) {
        const appliedCount =
          lastApplied?.nodePool && !lastApplied.nodePool.autoscaling.enabled
            ? (lastApplied.nodePool.nodeCountPerZone ?? undefined)
            : undefined;
        count =
          liveCount === null
            ? baseCount
            : pick('nodePool.nodeCountPerZone', baseCount, appliedCount, liveCount);
      } else if (liveCount === null || liveCount < baseCount) {
        count = baseCount;
      }
    }
    nodePool = { autoscaling, nodeCountPerZone: count, zones: live.nodePool.zones };
  }
  return { settings: { replicas, hpa, nodePool }, drift };
}

function fieldOf(settings: TargetSettings | null, field: string): number | boolean | undefined {
  if (!settings) return undefined;
  switch (field) {
    case 'hpa.minReplicas':
      return settings.hpa?.minReplicas;
    case 'hpa.maxReplicas':
      return settings.hpa?.maxReplicas;
    case 'nodePool.autoscaling.enabled':
      return settings.nodePool?.autoscaling.enabled;
    case 'nodePool.autoscaling.totalMinNodeCount':
      return settings.nodePool?.autoscaling.totalMinNodeCount;
    case 'nodePool.autoscaling.totalMaxNodeCount':
      return settings.nodePool?.autoscaling.totalMaxNodeCount;
    case 'nodePool.nodeCountPerZone':
      return settings.nodePool?.nodeCountPerZone ?? undefined;
    default:
      return undefined;
  }
}

/** Claim values override, field by field; a claim's null leaves that field to the base. */
export function overlaySettings(base: TargetSettings, claim: TargetSettings): TargetSettings {
  return {
    replicas: claim.replicas ?? base.replicas,
    hpa: claim.hpa ?? base.hpa,
    nodePool: claim.nodePool
      ? {
          autoscaling: claim.nodePool.autoscaling,
          nodeCountPerZone: claim.nodePool.nodeCountPerZone ?? base.nodePool?.nodeCountPerZone ?? null,
          zones: claim.nodePool.zones,
        }
      : base.nodePool,
  };
}

export type WantedSource = 'downtime' | 'scale-out' | 'restore' | 'live';

export interface Wanted {
  settings: TargetSettings;
  source: WantedSource;
  drift: DriftedField[];
}

export function downtimeActive(record: TargetRecord, nowMs: number): boolean {
  if (record.downtime === null) return false;
  return !(record.wakeUntil !== null && Date.parse(record.wakeUntil) > nowMs);
}

/**
 * The settings the target should have now, from its record alone. Precedence: a downtime (unless
 * woken) beats a scale-out, which beats the restore of the baseline; without a baseline nothing
 * is wanted but what is live.
 */
export function wantedSettings(record: TargetRecord, live: TargetSettings, nowMs: number): Wanted {
  const restore = record.baseline
    ? restoreSettings(
        record.baseline.settings,
        record.lastApplied?.settings ?? null,
        live,
        record.lastApplied?.previous ?? null,
      )
    : { settings: live, drift: [] };
  if (downtimeActive(record, nowMs) && record.downtime) {
    const settings = overlaySettings(restore.settings, record.downtime.settings);
    // A downtime whose node count is null leaves it to the autoscaler (as live): the restore's
    // warm count is for the restore, not for a pool the autoscaler drained during the window.
    if (settings.nodePool && record.downtime.settings.nodePool?.nodeCountPerZone === null) {
      settings.nodePool = { ...settings.nodePool, nodeCountPerZone: live.nodePool?.nodeCountPerZone ?? null };
    }
    return { settings, source: 'downtime', drift: [] };
  }
  if (record.scaleOut) {
    return {
      settings: atLeastHpaMinimum(overlaySettings(restore.settings, record.scaleOut.settings), live),
      source: 'scale-out',
      drift: [],
    };
  }
  return {
    settings: record.baseline ? atLeastHpaMinimum(restore.settings, live) : restore.settings,
    source: record.baseline ? 'restore' : 'live',
    drift: restore.drift,
  };
}

/**
 * Replicas that come back from zero (the restore after a downtime) start at the HPA's minimum at
 * least: an HPA does not act on a Deployment at 0, and a restore that brings back a scale-out has a
 * minimum above the baseline's replicas. While the Deployment runs, the HPA itself keeps replicas
 * within its bounds, so nothing more is written. Zero wanted stays zero.
 */
function atLeastHpaMinimum(settings: TargetSettings, live: TargetSettings): TargetSettings {
  const min = settings.hpa?.minReplicas;
  if (live.replicas !== 0 || settings.replicas === null || settings.replicas === 0) return settings;
  if (min === undefined || settings.replicas >= min) return settings;
  return { ...settings, replicas: min };
}

export function sameSettings(a: TargetSettings, b: TargetSettings): boolean {
  return JSON.stringify(normalSettings(a)) === JSON.stringify(normalSettings(b));
}

function normalSettings(s: TargetSettings): TargetSettings {
  return {
    replicas: s.replicas,
    hpa: s.hpa ? { minReplicas: s.hpa.minReplicas, maxReplicas: s.hpa.maxReplicas } : null,
    nodePool: s.nodePool
      ? {
          autoscaling: {
            enabled: s.nodePool.autoscaling.enabled,
            totalMinNodeCount: s.nodePool.autoscaling.totalMinNodeCount,
            totalMaxNodeCount: s.nodePool.autoscaling.totalMaxNodeCount,
          },
          nodeCountPerZone: s.nodePool.nodeCountPerZone,
          zones: s.nodePool.zones,
        }
      : null,
  };
}

export interface TargetPlanContext {
  stateBucket: string;
  cluster: string;
  /** RFC 3339, from the injected clock. */
  now: string;
  /** Prices (with policy overrides) of the pool's GPU class. */
  gpuClassFor?: (pool: NodePool) => GpuClass | undefined;
  /** Why, for the plan's action reasons. */
  reason: string;
}

export interface TargetPlan {
  actions: PlanAction[];
  /** The record as the plan writes it (or as it stays). */
  record: TargetRecord;
  wanted: Wanted;
}

/**
 * The actions that make a target match its new record. `next` is the decider's record (the
 * previous one with its claim added, changed or removed); the baseline is filled in here when the
 * first claim arrives, and dropped once the target is back to it. The record write comes first,
 * conditional on the generation observed, so two instances deciding at once cannot both win.
 */
export function planTarget(observed: ObservedTarget, next: TargetRecord, ctx: TargetPlanContext): TargetPlan {
  const previous = observed.record?.record ?? null;
  const live = liveSettings(observed);
  const nowMs = Date.parse(ctx.now);
  let record: TargetRecord = { ...next };

  const claims = hasClaims(record);
  if (claims && !hasClaims(previous)) {
    const restorePending =
      previous?.baseline != null &&
      !sameSettings(
        restoreSettings(
          previous.baseline.settings,
          previous.lastApplied?.settings ?? null,
          live,
          previous.lastApplied?.previous ?? null,
        ).settings,
        live,
      );
    if (!restorePending) {
      record = {
        ...record,
        baseline: {
          recordedAt: ctx.now,
          settings: live,
          generations: {
            deployment: observed.deployment?.generation ?? null,
            hpa: observed.hpa?.generation ?? null,
          },
        },
        lastApplied: null,
      };
    }
  }

  const wanted = wantedSettings(record, live, nowMs);
  const changes = settingsActions(observed, live, wanted.settings, ctx);
  // An on-demand pool added beside a Spot pool after a stockout (scaleOnAlert) lives as long as
  // the scale-out is what the target wants: a restore or a downtime deletes it, after the workload.
  const removals: PlanAction[] = [];
  const onDemand = record.scaleOutOnDemand;
  if (onDemand && wanted.source !== 'scale-out') {
    if (observed.onDemandPool !== null) {
      const pool = observed.onDemandPool ?? { name: onDemand.pool };
      const capacityBefore = observed.onDemandPool
        ? capacityOfNodePool(observed.onDemandPool, ctx.gpuClassFor?.(observed.onDemandPool), {
            zones: observed.zones,
          })
        : null;
      removals.push({
        kind: 'deleteNodePool',
        target: nodePoolTarget(onDemand.pool),
        before: pool,
        after: null,
        capacityBefore,
        capacityAfter: null,
        costDeltaPerHour: costDelta(capacityBefore, null),
        reason: `the on-demand pool added after a stockout goes with the scale-out: ${ctx.reason}`,
      });
    }
    record = { ...record, scaleOutOnDemand: null };
  }
  if (!claims && record.baseline && changes.length === 0) {
    // Back to the baseline: forget it, so the next claim records a fresh one.
    record = { ...record, baseline: null, lastApplied: null };
  } else if (changes.length > 0 && record.baseline) {
    record = {
      ...record,
      lastApplied: {
        at: ctx.now,
        settings: wanted.settings,
        previous: record.lastApplied?.settings ?? null,
      },
    };
  }

  const actions: PlanAction[] = [];
  const recordChanged = previous === null ? claims : recordText(previous) !== recordText(record);
  if (recordChanged) {
    record = { ...record, updatedAt: ctx.now };
    const name = targetRecordName(ctx.cluster, observed.pool);
    actions.push({
      kind: 'writeStorageObject',
      target: storageTarget({ bucket: ctx.stateBucket, name }),
      before: observed.record ? { generation: observed.record.generation } : null,
      after: {
        object: { bucket: ctx.stateBucket, name },
        text: serializeTargetRecord(record),
        contentType: 'application/json',
      },
      // Planned from the record as just observed: the conditional write is the check.
      checkedByWrite: true,
      costDeltaPerHour: 0,
      reason: `target state: ${ctx.reason}`,
    });
  } else if (previous) {
    record = previous;
  }
  actions.push(...changes, ...removals);
  return { actions, record, wanted };
}

/** The record's text without its timestamp: equal text means nothing to write. */
function recordText(record: TargetRecord): string {
  return serializeTargetRecord({ ...record, updatedAt: '1970-01-01T00:00:00.000Z' });
}

/** The HPA fields the scaling functions own, as a server-side apply of only those fields. */
export function hpaBoundsObject(
  namespace: string,
  name: string,
  bounds: { minReplicas: number; maxReplicas: number },
): KubernetesObject & { spec: { minReplicas: number; maxReplicas: number } } {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace },
    spec: { minReplicas: bounds.minReplicas, maxReplicas: bounds.maxReplicas },
  };
}

function settingsActions(
  observed: ObservedTarget,
  live: TargetSettings,
  wanted: TargetSettings,
  ctx: TargetPlanContext,
): PlanAction[] {
  const workload: PlanAction[] = [];
  const capacity: PlanAction[] = [];

  if (observed.hpa && live.hpa && wanted.hpa) {
    if (live.hpa.minReplicas !== wanted.hpa.minReplicas || live.hpa.maxReplicas !== wanted.hpa.maxReplicas) {
      const after = hpaBoundsObject(observed.namespace, observed.hpa.name, wanted.hpa);
      workload.push({
        kind: 'applyObject',
        target: objectTarget(after),
        before: hpaBoundsObject(observed.namespace, observed.hpa.name, live.hpa),
        after,
        fieldManager: SCALING_FIELD_MANAGER,
        costDeltaPerHour: 0,
        reason: `HPA replicas ${live.hpa.minReplicas}..${live.hpa.maxReplicas} -> ${wanted.hpa.minReplicas}..${wanted.hpa.maxReplicas}: ${ctx.reason}`,
      });
    }
  }
  if (observed.deployment && wanted.replicas !== null && live.replicas !== wanted.replicas) {
    workload.push({
      kind: 'scaleWorkload',
      target: `Deployment/${observed.namespace}/${observed.deployment.name}`,
      before: {
        replicas: live.replicas,
        ...(observed.deployment.resourceVersion
          ? { resourceVersion: observed.deployment.resourceVersion }
          : {}),
      },
      after: { replicas: wanted.replicas },
      costDeltaPerHour: 0,
      reason: `replicas ${live.replicas ?? '?'} -> ${wanted.replicas}: ${ctx.reason}`,
    });
  }

  let growing = false;
  if (observed.nodePool && live.nodePool && wanted.nodePool) {
    const pool = observed.nodePool;
    const name = pool.name ?? observed.pool;
    const zones = live.nodePool.zones;
    const gpuClass = ctx.gpuClassFor?.(pool);
    const capacityOf = (settings: NodePoolSettings): PoolCapacity =>
      capacityOfNodePool({ ...pool, autoscaling: toGkeAutoscaling(settings.autoscaling) }, gpuClass, {
        nodeCountPerZone: settings.nodeCountPerZone ?? 0,
        zones,
      });
    let current = capacityOf(live.nodePool);
    const a = live.nodePool.autoscaling;
    const b = wanted.nodePool.autoscaling;
    if (
      a.enabled !== b.enabled ||
      (b.enabled &&
        (a.totalMinNodeCount !== b.totalMinNodeCount || a.totalMaxNodeCount !== b.totalMaxNodeCount))
    ) {
      const next = capacityOf({ ...live.nodePool, autoscaling: b });
      capacity.push({
        kind: 'setNodePoolAutoscaling',
        target: nodePoolTarget(name),
        before: pool.autoscaling ?? null,
        after: toGkeAutoscaling(b),
        capacityBefore: current,
        capacityAfter: next,
        costDeltaPerHour: costDelta(current, next),
        reason: `autoscaling ${describeAutoscaling(a)} -> ${describeAutoscaling(b)}: ${ctx.reason}`,
      });
      growing ||= next.maxNodes > current.maxNodes || b.totalMinNodeCount > a.totalMinNodeCount;
      current = next;
    }
    const wantedCount = wanted.nodePool.nodeCountPerZone;
    if (wantedCount !== null && wantedCount !== live.nodePool.nodeCountPerZone) {
      const next = capacityOf({ autoscaling: b, nodeCountPerZone: wantedCount, zones });
      capacity.push({
        kind: 'setNodePoolSize',
        target: nodePoolTarget(name),
        before: { nodeCountPerZone: live.nodePool.nodeCountPerZone, zones },
        after: { nodeCountPerZone: wantedCount, zones },
        capacityBefore: current,
        capacityAfter: next,
        costDeltaPerHour: costDelta(current, next),
        reason: `nodes per zone ${live.nodePool.nodeCountPerZone ?? '?'} -> ${wantedCount}: ${ctx.reason}`,
      });
      growing ||= wantedCount > (live.nodePool.nodeCountPerZone ?? 0);
    }
  }
  // Capacity before the workload that needs it; the workload off before its capacity goes.
  return growing ? [...capacity, ...workload] : [...workload, ...capacity];
}

export function toGkeAutoscaling(a: TargetAutoscaling): NodePoolAutoscaling {
  if (!a.enabled) return { enabled: false };
  return {
    enabled: true,
    totalMinNodeCount: a.totalMinNodeCount,
    totalMaxNodeCount: a.totalMaxNodeCount,
    ...(a.locationPolicy
      ? { locationPolicy: a.locationPolicy as NodePoolAutoscaling['locationPolicy'] }
      : {}),
  };
}

function describeAutoscaling(a: TargetAutoscaling): string {
  return a.enabled ? `${a.totalMinNodeCount}..${a.totalMaxNodeCount}` : 'off';
}

/**
 * deployModel's side of sharing a target: while scaleOnAlert or applySchedules manage a target
 * (its record has a claim, or a baseline still to restore), a deploy keeps the HPA bounds and the
 * node pool's autoscaling as they are live, so it neither ends a downtime nor undoes a scale-out.
 * The policy's values come back with the restore.
 */
export function holdScaledFields<P extends { nodePool: NodePool; objects: KubernetesObject[] }>(
  desired: P,
  live: { nodePool: NodePool | undefined; hpa: KubernetesObject | undefined },
  record: TargetRecord | null | undefined,
): P {
  if (!record || (!hasClaims(record) && record.baseline === null)) return desired;
  const liveSpec = (live.hpa as { spec?: { minReplicas?: unknown; maxReplicas?: unknown } } | undefined)
    ?.spec;
  const objects = desired.objects.map((o) => {
    if (o.kind !== 'HorizontalPodAutoscaler' || !liveSpec) return o;
    const spec = (o as KubernetesObject & { spec?: Record<string, unknown> }).spec ?? {};
    return {
      ...o,
      spec: {
        ...spec,
        ...(typeof liveSpec.minReplicas === 'number' ? { minReplicas: liveSpec.minReplicas } : {}),
        ...(typeof liveSpec.maxReplicas === 'number' ? { maxReplicas: liveSpec.maxReplicas } : {}),
      },
    } as KubernetesObject;
  });
  const nodePool = live.nodePool?.autoscaling
    ? { ...desired.nodePool, autoscaling: live.nodePool.autoscaling }
    : desired.nodePool;
  return { ...desired, objects, nodePool };
}
