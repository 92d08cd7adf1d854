/**
 * applySchedules' decider (pure): from one observed target, the schedules that name it and the
 * tick's time, the target's next record: the `downtime` claim added, kept or removed, and the warm
 * restore bookkeeping. Level-triggered: the answer depends on now and the record alone, so a
 * missed, late or doubled tick decides the same thing. `planTarget` (shared/scaling/target.ts)
 * turns the record into actions.
 */
import {
  type DowntimeClaim,
  emptyTargetRecord,
  type TargetRecord,
  type TargetSettings,
  withDecision,
} from '../domain/target';
import type { Schedule } from '../policy/schema';
import { liveSettings, type ObservedTarget } from '../scaling/target';
import { type Interval, intervalAt, MINUTE_MS } from './calendar';

export const FUNCTION_NAME = 'applySchedules';

/** Per-target overrides, as annotations on the pool's Triton Deployment. */
export const ANNOTATIONS = {
  wakeUntil: 'inferplane.dev/wake-until',
  exclude: 'inferplane.dev/exclude',
  excludeUntil: 'inferplane.dev/exclude-until',
} as const;

export type TargetAction =
  /** Scaled down now (the claim is new). */
  | 'scale-down'
  /** Still in downtime: the claim stays (planTarget repairs anything that moved). */
  | 'hold'
  /** The claim is removed ahead of the window's end: capacity first, then replicas. */
  | 'warm-restore'
  /** The claim is removed for another reason (woken, excluded, schedule gone, frozen). */
  | 'restore'
  /** Nothing of ours on the target, and no downtime wanted. */
  | 'none';

export interface TargetDecision {
  pool: string;
  action: TargetAction;
  reason: string;
  next: TargetRecord;
  /** The downtime in force (after overrides), if any. */
  window: Interval | undefined;
  /** Annotation values that could not be read (reported, then ignored). */
  warnings: string[];
}

export interface DecideInput {
  observed: ObservedTarget;
  /** Every schedule of the policy that names this target. */
  schedules: readonly Schedule[];
  nowMs: number;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** An RFC 3339 annotation value; undefined when absent, NaN when unreadable. */
function timeAnnotation(annotations: Readonly<Record<string, string>>, key: string): number | undefined {
  const value = annotations[key];
  if (value === undefined || value.trim() === '') return undefined;
  return /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
}

/** Why no downtime may be in force now despite the windows, or undefined. */
function override(observed: ObservedTarget, record: TargetRecord, nowMs: number, warnings: string[]) {
  const annotations = observed.deployment?.annotations ?? {};
  const exclude = annotations[ANNOTATIONS.exclude];
  if (exclude !== undefined && exclude.trim().toLowerCase() === 'true') {
    return `excluded by annotation ${ANNOTATIONS.exclude}`;
  }
  if (exclude !== undefined && exclude.trim().toLowerCase() !== 'false') {
    warnings.push(`${ANNOTATIONS.exclude}: "${exclude}" is neither "true" nor "false"; ignored`);
  }
  const checks: [string, number | undefined][] = [
    [ANNOTATIONS.excludeUntil, timeAnnotation(annotations, ANNOTATIONS.excludeUntil)],
    [ANNOTATIONS.wakeUntil, timeAnnotation(annotations, ANNOTATIONS.wakeUntil)],
  ];
  for (const [key, until] of checks) {
    if (until === undefined) continue;
    if (Number.isNaN(until)) {
      warnings.push(`${key}: "${annotations[key]}" is not an RFC 3339 time; ignored`);
      continue;
    }
    if (until > nowMs) {
      return key === ANNOTATIONS.wakeUntil
        ? `woken until ${iso(until)} by annotation ${key}`
        : `excluded until ${iso(until)} by annotation ${key}`;
    }
  }
  if (record.wakeUntil !== null && Date.parse(record.wakeUntil) > nowMs) {
    return `woken until ${record.wakeUntil} by an alert`;
  }
  return undefined;
}

/**
 * The settings a downtime holds: replicas to `downtimeReplicas` (0: the HPA stops acting on its own,
 * and gets replicas back at the restore; above 0 the HPA is pinned to that count); the node pool to
 * an autoscaling minimum of 0 (the autoscaler removes the idle nodes), or size 0 when autoscaling
 * is off.
 */
export function downtimeSettings(observed: ObservedTarget, replicas: number): TargetSettings {
  const live = liveSettings(observed);
  const pool = live.nodePool;
  let nodePool: TargetSettings['nodePool'] = null;
  if (pool) {
    if (pool.autoscaling.enabled) {
      nodePool = {
        autoscaling: { ...pool.autoscaling, totalMinNodeCount: 0 },
        nodeCountPerZone: null,
        zones: pool.zones,
      };
    } else if (replicas === 0) {
      nodePool = { autoscaling: pool.autoscaling, nodeCountPerZone: 0, zones: pool.zones };
    }
  }
  return {
    replicas: live.replicas === null ? null : replicas,
    hpa: replicas > 0 && live.hpa ? { minReplicas: replicas, maxReplicas: replicas } : null,
    nodePool,
  };
}

/** The largest of a setting over the schedules in force (the most conservative). */
function maxOf(schedules: readonly Schedule[], pick: (s: Schedule) => number, fallback: number): number {
  return schedules.length === 0 ? fallback : Math.max(...schedules.map(pick));
}

/** Ready: every replica the Deployment asks for is ready, and it asks for at least one. */
export function isReady(observed: ObservedTarget): boolean {
  const d = observed.deployment;
  return d !== null && (d.replicas ?? 0) > 0 && d.readyReplicas >= (d.replicas ?? 0);
}

export function decideTarget(input: DecideInput): TargetDecision {
  const { observed, schedules, nowMs } = input;
  const now = iso(nowMs);
  const previous = observed.record?.record ?? emptyTargetRecord(observed.pool, observed.namespace, now);
  const warnings: string[] = [];
  const claim = previous.downtime;
  const lead = maxOf(schedules, (s) => s.leadTimeMinutes, 10) * MINUTE_MS;
  const grace = maxOf(schedules, (s) => s.gracePeriodMinutes, 15) * MINUTE_MS;

  const interval = intervalAt(schedules, nowMs);
  let wanted: Interval | undefined = interval;
  let why: string;
  if (!interval) {
    why = schedules.length === 0 ? 'no schedule names this target any more' : 'outside every downtime window';
  } else if (nowMs >= interval.end - lead) {
    wanted = undefined;
    why = `window of ${interval.schedule} ends ${iso(interval.end)}: warm restore ${lead / MINUTE_MS} min ahead`;
  } else {
    why = `in the downtime of ${interval.schedule} until ${iso(interval.end)}`;
  }
  const overridden = override(observed, previous, nowMs, warnings);
  if (wanted && overridden) {
    wanted = undefined;
    why = overridden;
  }
  const created = observed.deployment?.createdAt ? Date.parse(observed.deployment.createdAt) : Number.NaN;
  if (wanted && !claim && grace > 0 && Number.isFinite(created) && nowMs - created < grace) {
    wanted = undefined;
    why = `created ${observed.deployment?.createdAt}, within the grace period of ${grace / MINUTE_MS} min`;
  }
  if (wanted && !observed.deployment && !observed.nodePool) {
    wanted = undefined;
    why = 'neither its Deployment nor its node pool exists';
  }

  let next: TargetRecord = previous;
  let action: TargetAction;
  if (wanted) {
    const active = schedules.filter((s) => intervalAt([s], nowMs) !== undefined);
    const replicas = maxOf(active, (s) => s.downtimeReplicas, 0);
    const downtime: DowntimeClaim = {
      schedule: wanted.schedule,
      since: iso(wanted.start),
      until: iso(wanted.end),
      settings: downtimeSettings(observed, replicas),
    };
    const same = claim !== null && JSON.stringify(claim) === JSON.stringify(downtime);
    // A claim already in force keeps its settings: they were decided against the baseline.
    const kept: DowntimeClaim | null =
      claim && claim.schedule === downtime.schedule && claim.until === downtime.until
        ? { ...downtime, settings: claim.settings }
        : null;
    next = { ...previous, downtime: same ? claim : (kept ?? downtime) };
    action = claim ? 'hold' : 'scale-down';
  } else if (claim) {
    const ending = interval !== undefined && nowMs >= interval.end - lead && !overridden;
    const windowEnd = ending ? iso(interval.end) : (claim.until ?? now);
    next = { ...previous, downtime: null };
    if (ending || (claim.until !== null && Date.parse(claim.until) <= nowMs + lead && !overridden)) {
      next = {
        ...next,
        schedules: {
          ...next.schedules,
          warming: { schedule: claim.schedule, windowEnd, startedAt: now },
        },
      };
      action = 'warm-restore';
    } else {
      action = 'restore';
    }
  } else {
    action = 'none';
  }

  // A warm restore under way ends when serving is Ready: how late is recorded and reported.
  const warming = next.schedules.warming;
  if (warming && action !== 'warm-restore' && !next.downtime && isReady(observed)) {
    next = {
      ...next,
      schedules: {
        warming: null,
        lastRestore: {
          ...warming,
          readyAt: now,
          lateSeconds: Math.round((nowMs - Date.parse(warming.windowEnd)) / 1000),
        },
      },
    };
  } else if (warming && next.downtime) {
    // Back in downtime before it became Ready (a wake that ended, a new window): nothing to measure.
    next = { ...next, schedules: { ...next.schedules, warming: null } };
  }

  if (action !== 'none' && action !== 'hold') {
    next = withDecision(next, { time: now, function: FUNCTION_NAME, action, reason: why });
  }
  return { pool: observed.pool, action, reason: why, next, window: wanted, warnings };
}
