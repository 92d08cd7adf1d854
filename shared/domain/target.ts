/**
 * The state scaleOnAlert and applySchedules keep about one serving target across deliveries: one
 * record per target (a pool's Triton Deployment, its HPA and its GPU node pool) in the state
 * bucket, at `targets/<cluster>/<pool>.json`, written with a generation precondition so concurrent
 * instances agree and a restart loses nothing.
 *
 * Both functions share it, so they compose instead of fighting:
 * - `baseline` is what the target looked like before the first change by either function, with
 *   the objects' generations; it is recorded in the same write that adds the first claim, before
 *   any change, and dropped once the target is back to it;
 * - a *claim* says what one function wants right now: `downtime` (applySchedules: scaled to zero
 *   until a window ends) and `scaleOut` (scaleOnAlert: capacity raised until it expires or the
 *   incident closes). `wakeUntil` lifts a downtime for a while (an alert rule with `wake: true`);
 * - `lastApplied` is what the control plane last set, so a human edit made since (drift) is told
 *   apart from our own change, and wins for the fields it touched when the target is restored.
 *
 * Which settings a target should have now is decided from the record alone by
 * `shared/scaling/target.ts` (`wantedSettings`), so every function computes the same answer.
 */
import { z } from 'zod';

export const TARGET_RECORD_API_VERSION = 'inferplane.dev/target/v1';

/** Where a target's record lives in the state bucket. */
export function targetRecordName(cluster: string, pool: string): string {
  return `targets/${cluster}/${pool}.json`;
}

const isoTime = () => z.iso.datetime({ offset: true });
const count = () => z.int().min(0);

const autoscalingSchema = z.strictObject({
  enabled: z.boolean(),
  /** Totals across the pool's zones, as GKE's `totalMinNodeCount` / `totalMaxNodeCount`. */
  totalMinNodeCount: count(),
  totalMaxNodeCount: count(),
  locationPolicy: z.string().optional(),
});

const nodePoolSettingsSchema = z.strictObject({
  autoscaling: autoscalingSchema,
  /** Live nodes per zone (what `setSize` sets); null when it could not be told. */
  nodeCountPerZone: count().nullable(),
  zones: z.int().positive(),
});

/** The fields of a target that scaling changes; null where the object does not exist. */
export const targetSettingsSchema = z.strictObject({
  /** The Deployment's `spec.replicas`. */
  replicas: count().nullable(),
  hpa: z.strictObject({ minReplicas: z.int().positive(), maxReplicas: z.int().positive() }).nullable(),
  nodePool: nodePoolSettingsSchema.nullable(),
});

export type TargetSettings = z.output<typeof targetSettingsSchema>;
export type NodePoolSettings = z.output<typeof nodePoolSettingsSchema>;
export type TargetAutoscaling = z.output<typeof autoscalingSchema>;

const baselineSchema = z.strictObject({
  recordedAt: isoTime(),
  settings: targetSettingsSchema,
  /** Generations of the objects when the baseline was read (null: absent). */
  generations: z.strictObject({ deployment: count().nullable(), hpa: count().nullable() }),
});

/** applySchedules' claim: the target is in a downtime window. */
const downtimeSchema = z.strictObject({
  schedule: z.string().min(1),
  /** When the window began, and when it ends (the restore aims to be warm by then). */
  since: isoTime(),
  until: isoTime().nullable(),
  settings: targetSettingsSchema,
});

/** scaleOnAlert's claim: capacity raised for open incidents. */
const scaleOutSchema = z.strictObject({
  rules: z.array(z.string().min(1)),
  /** Steps applied so far. */
  level: z.int().positive(),
  since: isoTime(),
  lastActionAt: isoTime(),
  /** The scale-out is returned to baseline by a tick after this, once the metric confirms. */
  expiresAt: isoTime(),
  settings: targetSettingsSchema,
});

const incidentSchema = z.strictObject({
  /** `condition.name` + `incident_id`: stable across renotifications. */
  key: z.string().min(1),
  incidentId: z.string().min(1),
  condition: z.string(),
  policy: z.string(),
  rule: z.string(),
  openedAt: isoTime(),
});

const decisionSchema = z.strictObject({
  time: isoTime(),
  function: z.string().min(1),
  action: z.string().min(1),
  reason: z.string(),
});

// --- applySchedules' bookkeeping
/** A restore at a window's end (or its lead time before): when it began and the end it aims at. */
const scheduleRestoreSchema = z.strictObject({
  schedule: z.string().min(1),
  /** The window's end: serving should be Ready by then. */
  windowEnd: isoTime(),
  startedAt: isoTime(),
});

const scheduleRestoresSchema = z.strictObject({
  warming: scheduleRestoreSchema.nullable().default(null),
  /** The last restore that became Ready; `lateSeconds` < 0: Ready before the window ended. */
  lastRestore: scheduleRestoreSchema
    .extend({ readyAt: isoTime(), lateSeconds: z.number() })
    .nullable()
    .default(null),
});
// --- end of applySchedules' bookkeeping

export const targetRecordSchema = z.strictObject({
  apiVersion: z.literal(TARGET_RECORD_API_VERSION),
  pool: z.string().min(1),
  namespace: z.string().min(1),
  updatedAt: isoTime(),
  baseline: baselineSchema.nullable().default(null),
  /** What the control plane last set, and what it set before that (to tell our unfinished change from a human's). */
  lastApplied: z
    .strictObject({
      at: isoTime(),
      settings: targetSettingsSchema,
      previous: targetSettingsSchema.nullable(),
    })
    .nullable()
    .default(null),
  downtime: downtimeSchema.nullable().default(null),
  scaleOut: scaleOutSchema.nullable().default(null),
  /** A downtime is lifted until then (alert rules with `wake: true`). */
  wakeUntil: isoTime().nullable().default(null),
  /** Open incidents routed to this target. */
  incidents: z.array(incidentSchema).default([]),
  /** Dedupe keys of notifications already handled (bounded, newest last). */
  seen: z.array(z.string()).default([]),
  /** The last decisions taken for this target (bounded, newest first). */
  decisions: z.array(decisionSchema).default([]),
  // --- scaleOnAlert
  /** When scaleOnAlert last changed the target (a step out or a restore): its cooldown starts there. */
  lastScaleActionAt: isoTime().nullable().default(null),
  /** Zones a scale-out added to the node pool after a stockout (with the zones it had); undone on restore. */
  scaleOutZones: z
    .strictObject({
      original: z.array(z.string().min(1)).min(1),
      added: z.array(z.string().min(1)).min(1),
      /** Zones GKE reported short: a restore that asks them again may be told so once more. */
      short: z.array(z.string().min(1)).default([]),
      at: isoTime(),
    })
    .nullable()
    .default(null),
  /**
   * An on-demand node pool a scale-out added beside a Spot pool GKE had no capacity for (a
   * stockout the zones could not absorb). Its nodes carry the Spot pool's `inferplane.dev/pool`
   * label, so the Triton pods land on them unchanged; it goes (deleted) when the target returns to
   * baseline or enters a downtime (`planTarget`).
   */
  scaleOutOnDemand: z
    .strictObject({
      pool: z.string().min(1),
      /** Its autoscaling maximum: the nodes the scale-out asked the Spot pool for. */
      maxNodes: z.int().positive(),
      /** Zones GKE reported short for the Spot pool. */
      short: z.array(z.string().min(1)).default([]),
      at: isoTime(),
    })
    .nullable()
    .default(null),
  // --- applySchedules' bookkeeping (only applySchedules writes this block)
  /** Warm restores: the one under way, and how late the last one became Ready. */
  schedules: scheduleRestoresSchema.prefault({}),
  // --- end of applySchedules' block
});

export type TargetRecord = z.output<typeof targetRecordSchema>;
export type TargetBaseline = z.output<typeof baselineSchema>;
export type DowntimeClaim = z.output<typeof downtimeSchema>;
export type ScaleOutClaim = z.output<typeof scaleOutSchema>;
export type TargetIncident = z.output<typeof incidentSchema>;
export type TargetDecision = z.output<typeof decisionSchema>;
export type ScheduleRestores = z.output<typeof scheduleRestoresSchema>;

export const MAX_SEEN_KEYS = 200;
export const MAX_DECISIONS = 20;

export function emptyTargetRecord(pool: string, namespace: string, now: string): TargetRecord {
  return {
    apiVersion: TARGET_RECORD_API_VERSION,
    pool,
    namespace,
    updatedAt: now,
    baseline: null,
    lastApplied: null,
    downtime: null,
    scaleOut: null,
    wakeUntil: null,
    incidents: [],
    seen: [],
    decisions: [],
    scaleOutZones: null,
    scaleOutOnDemand: null,
    lastScaleActionAt: null,
    schedules: { warming: null, lastRestore: null },
  };
}

export type TargetRecordParse = { ok: true; record: TargetRecord } | { ok: false; message: string };

/** Parses a stored record; a record that does not parse is reported, never silently replaced. */
export function parseTargetRecord(text: string): TargetRecordParse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `not JSON: ${(err as Error).message}` };
  }
  const parsed = targetRecordSchema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      message: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    };
  }
  return { ok: true, record: parsed.data };
}

/** Stable text (key order as the schema's), so an unchanged record compares equal byte for byte. */
export function serializeTargetRecord(record: TargetRecord): string {
  return `${JSON.stringify(targetRecordSchema.parse(record), null, 2)}\n`;
}

/** Adds a decision (newest first, bounded) and a handled dedupe key (bounded). */
export function withDecision(record: TargetRecord, decision: TargetDecision): TargetRecord {
  return { ...record, decisions: [decision, ...record.decisions].slice(0, MAX_DECISIONS) };
}

export function withSeen(record: TargetRecord, key: string): TargetRecord {
  if (record.seen.includes(key)) return record;
  return { ...record, seen: [...record.seen, key].slice(-MAX_SEEN_KEYS) };
}
