/**
 * The control-plane policy file (YAML), `kind: ControlPlanePolicy`. Structure and per-field formats
 * are checked here; rules that relate several fields live in `checks.ts`, so every problem of a file
 * is reported at once. Every optional field has a default, so consumers get a fully populated object.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { isTimeZone, tryParseWindow } from './windows';

// The GPU catalog owns the class ids; the policy only refers to them.
export { BUILTIN_GPU_CLASS_IDS, type BuiltinGpuClassId } from '../gpu/catalog';

export const MODEL_NAME = /^[A-Za-z0-9_.-]+$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

/** A real calendar date written `YYYY-MM-DD`. */
export function isIsoDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

const isoDate = () => z.string().refine(isIsoDate, 'must be a date written YYYY-MM-DD');

/** A freeze bound: a calendar date or an RFC 3339 time. */
const freezeTime = z
  .string()
  .refine(
    (t) => isIsoDate(t) || z.iso.datetime({ offset: true }).safeParse(t).success,
    'must be a date YYYY-MM-DD or an RFC 3339 time such as 2026-11-27T00:00:00Z',
  );

const downtimeWindow = z.string().superRefine((text, ctx) => {
  const parsed = tryParseWindow(text);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
});

function isCidr(text: string): boolean {
  const [address, bits, ...rest] = text.split('/');
  if (rest.length > 0 || address === undefined || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
  const family = isIP(address);
  return family !== 0 && Number(bits) <= (family === 4 ? 32 : 128);
}

const count = () => z.int().min(0);
const positiveInt = () => z.int().positive();

export const gpuClassSchema = z
  .strictObject({
    /** Required for a class outside the built-in catalog: its machine type decides the GPU. */
    machineType: z.string().min(1).optional(),
    spot: z.boolean().optional(),
    onDemandPerGpuHour: z.number().nonnegative().optional(),
    spotPerGpuHour: z.number().nonnegative().optional(),
    pricesAsOf: isoDate().optional(),
  })
  .describe(
    'Override of a built-in GPU class, or a new class (then machineType and acceleratorType are required).',
  );

const replicasSchema = z.strictObject({ min: positiveInt().default(1), max: positiveInt().default(4) });

const autoscalingSchema = z.strictObject({
  metric: z.enum(['queue-time', 'gpu-duty-cycle']).default('queue-time'),
  /** Queue time in microseconds, or duty cycle in percent. */
  target: z.number().positive().default(50_000),
});

export const modelPolicySchema = z.strictObject({
  gpuClass: z.string().min(1).default('l4'),
  maxBatchSize: count().default(8),
  dynamicBatching: z.strictObject({ maxQueueDelayMicroseconds: count().default(100) }).prefault({}),
  instanceCount: positiveInt().default(1),
  replicas: replicasSchema.prefault({}),
  autoscaling: autoscalingSchema.prefault({}),
  readinessTimeoutSeconds: positiveInt().default(600),
});

/** Per-model overrides: any field of modelDefaults, nested objects field by field. */
export const modelOverrideSchema = z.strictObject({
  gpuClass: z.string().min(1).optional(),
  maxBatchSize: count().optional(),
  dynamicBatching: z.strictObject({ maxQueueDelayMicroseconds: count().optional() }).optional(),
  instanceCount: positiveInt().optional(),
  replicas: z.strictObject({ min: positiveInt().optional(), max: positiveInt().optional() }).optional(),
  autoscaling: z
    .strictObject({
      metric: z.enum(['queue-time', 'gpu-duty-cycle']).optional(),
      target: z.number().positive().optional(),
    })
    .optional(),
  readinessTimeoutSeconds: positiveInt().optional(),
});

export const alertRuleSchema = z.strictObject({
  name: z.string().min(1),
  /** Matches the incident's `policy_name` and every listed `policy_user_labels` entry. */
  match: z.strictObject({
    policyName: z.string().min(1).optional(),
    userLabels: z.record(z.string(), z.string()).optional(),
  }),
  action: z.enum(['scale-out', 'scale-in']),
  replicasStep: count().default(1),
  /** Nodes added per step beyond the replicas' own (one Triton pod per node): max(nodesStep, replicasStep). */
  nodesStep: count().default(0),
  cooldownSeconds: count().default(300),
  // --- scaleOnAlert (see README "Scaling on alerts")
  /** Targets when the alert policy's user labels name none (`pool`, `gpu-class`, `model` labels win). */
  target: z
    .strictObject({
      pools: z.array(z.string().regex(DNS_LABEL, 'must be a node pool name')).min(1).optional(),
      gpuClasses: z.array(z.string().min(1)).min(1).optional(),
      models: z.array(z.string().regex(MODEL_NAME, 'must be a model name')).min(1).optional(),
    })
    .optional(),
  /** Steps a scale-out may take above the baseline; a further incident only refreshes its expiry. */
  maxSteps: positiveInt().default(3),
  /** A scale-out not closed by then is returned to baseline by a tick, once `confirm` says so. */
  maxScaleOutMinutes: positiveInt().default(60),
  /** During a scheduled downtime, an alert lifts it for `wakeMinutes` (otherwise it is ignored). */
  wake: z.boolean().default(false),
  wakeMinutes: positiveInt().default(60),
  /** Read before scaling in (close or expiry): capacity is kept while the metric is above `below`. */
  confirm: z
    .strictObject({
      /** A Cloud Monitoring filter, e.g. `metric.type = "prometheus.googleapis.com/..."`. */
      filter: z.string().min(1),
      below: z.number(),
      windowSeconds: positiveInt().default(300),
      alignmentSeconds: positiveInt().default(60),
      aligner: z
        .string()
        .regex(/^ALIGN_[A-Z_0-9]+$/, 'must be a Monitoring aligner')
        .default('ALIGN_MEAN'),
      reducer: z
        .string()
        .regex(/^REDUCE_[A-Z_0-9]+$/, 'must be a Monitoring reducer')
        .default('REDUCE_MAX'),
    })
    .optional(),
  /**
   * When GKE has no capacity for a scale-out (a stockout): try the region's other zones, then, for
   * a Spot pool and only when `onDemand` is set, an on-demand pool beside it (priced at on-demand
   * rates by the guardrails; removed with the scale-out). Off by default: it costs about three
   * times the Spot price, a choice the policy makes, not the control plane.
   */
  fallback: z
    .strictObject({ otherZones: z.boolean().default(true), onDemand: z.boolean().default(false) })
    .prefault({}),
});

export const scheduleSchema = z.strictObject({
  name: z.string().min(1),
  /** Exactly one of `models`, `pools` or `all: true`. */
  target: z.strictObject({
    models: z.array(z.string()).min(1).optional(),
    pools: z.array(z.string().min(1)).min(1).optional(),
    all: z.literal(true).optional(),
  }),
  /** `<Days> HH:MM-HH:MM <IANA zone>`; a window whose end is before its start crosses midnight. */
  downtime: z.array(downtimeWindow).min(1),
  /** Dates that are downtime all day long (in the schedule's `timeZone`), like a Sunday. */
  holidays: z.array(isoDate()).default([]),
  /**
   * Zone of `holidays` and of freeze dates written `YYYY-MM-DD`; defaults to the zone of the first
   * window (required when the windows use several zones and holidays or date freezes are given).
   */
  timeZone: z.string().refine(isTimeZone, 'unknown time zone (use an IANA zone)').optional(),
  /** Periods with no downtime at all (a launch, a change freeze): capacity stays up. */
  freezes: z
    .array(
      z.strictObject({
        /** `YYYY-MM-DD` (start of that day in `timeZone`) or an RFC 3339 time. */
        from: freezeTime,
        /** Exclusive; `YYYY-MM-DD` means the start of that day, so a one-day freeze is from D to D+1. */
        until: freezeTime,
        reason: z.string().optional(),
      }),
    )
    .default([]),
  /** Replicas kept during downtime; above 0 the HPA is pinned to this count and nodes stay. */
  downtimeReplicas: count().default(0),
  /** Restore starts this long before a window ends, so serving is Ready when it ends (GPU nodes take 4-9 min). */
  leadTimeMinutes: count().max(720).default(10),
  /** A Deployment created less than this long ago is not scaled down (kube-downscaler's default). */
  gracePeriodMinutes: count().default(15),
});

/** Who may reach Triton and where Triton may connect (the policy file's, or a security bundle's). */
export const networkPolicySchema = z.strictObject({
  /** Namespaces whose pods may reach Triton; the namespace itself always can. */
  allowNamespaces: z.array(z.string().regex(DNS_LABEL, 'must be a Kubernetes namespace name')).default([]),
  allowCidrs: z.array(z.string().refine(isCidr, 'must be a CIDR such as 10.0.0.0/8')).default([]),
  /** Pods (in any allowed namespace, or this one) carrying all these labels may reach Triton. */
  allowPodLabels: z.record(z.string().min(1), z.string()).default({}),
  /** Managed Prometheus collectors: the only namespace that reaches the metrics port. */
  monitoringNamespace: z
    .string()
    .regex(DNS_LABEL, 'must be a Kubernetes namespace name')
    .default('gmp-system'),
  /**
   * Egress is denied except DNS (kube-dns), the GKE metadata server and these Google API
   * ranges (private.googleapis.com by default: the Private Google Access VIP).
   */
  googleApiCidrs: z
    .array(z.string().refine(isCidr, 'must be a CIDR such as 199.36.153.8/30'))
    .default(['199.36.153.8/30']),
});

export const policySchema = z.strictObject({
  $schema: z.string().optional(),
  apiVersion: z.literal('inferplane.dev/v1'),
  kind: z.literal('ControlPlanePolicy'),
  cluster: z.strictObject({
    project: z.string().min(1),
    location: z.string().min(1).default('us-central1'),
    name: z.string().regex(DNS_LABEL, 'must be a GKE cluster name'),
    namespace: z.string().regex(DNS_LABEL, 'must be a Kubernetes namespace name').default('triton'),
    repositoryBucket: z.string().regex(BUCKET, 'must be a Cloud Storage bucket name'),
    incomingBucket: z.string().regex(BUCKET, 'must be a Cloud Storage bucket name'),
    tritonImage: z.string().min(1).default('nvcr.io/nvidia/tritonserver:25.01-py3'),
    /** Google service account Triton reads the repository as (Workload Identity); Terraform's triton account. */
    tritonServiceAccount: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.iam\.gserviceaccount\.com$/,
        'must be a service account email',
      )
      .optional(),
  }),
  gpuClasses: z.record(z.string(), gpuClassSchema).default({}),
  modelDefaults: modelPolicySchema.prefault({}),
  models: z.record(z.string(), modelOverrideSchema).default({}),
  alertRules: z.array(alertRuleSchema).default([]),
  schedules: z.array(scheduleSchema).default([]),
  security: z
    .strictObject({
      networkPolicy: networkPolicySchema.prefault({}),
      apiKeys: z
        .strictObject({
          /**
           * Deprecated and ignored: each pool's key ring lives in that pool's own Secret
           * (`<pool>-admin-key`). Accepted so that existing policy files still load.
           */
          secretName: z
            .string()
            .regex(DNS_LABEL, 'must be a Kubernetes Secret name')
            .optional()
            .meta({ deprecated: true, description: "Ignored: each pool's keys live in its own Secret." }),
          rotateEveryDays: positiveInt().default(30),
          /**
           * Deprecated and ignored: a ring holds the active key and, during one rotation, the key it
           * replaces (retired by `overlapMinutes` once no pod uses it). Accepted so that existing
           * policy files still load.
           */
          keep: positiveInt().optional().meta({
            deprecated: true,
            description: 'Ignored: a rotation keeps the replaced key for overlapMinutes.',
          }),
          /**
           * How long a replaced key stays in the Secret after its successor became active (and
           * until no pod runs with it), so clients that cached it can switch over.
           */
          overlapMinutes: count().default(60),
          /** Also restrict Triton's inference API with a key of its own (header below). */
          inferenceKey: z.boolean().default(false),
        })
        .prefault({}),
      /** Checks reported by every security tick; `enforce` refuses rollouts that fail the image checks. */
      posture: z
        .strictObject({
          /** Image name prefixes allowed in the namespace, e.g. `nvcr.io/nvidia/tritonserver`. */
          imageAllowlist: z.array(z.string().min(1)).default(['nvcr.io/nvidia/tritonserver']),
          requireDigest: z.boolean().default(true),
          /** Refuse a Deployment rollout whose images are not pinned by digest or not allowed. */
          enforce: z.boolean().default(false),
          /** Triton's service account is bound by an IAM principal binding, not by annotation. */
          directPrincipalBinding: z.boolean().default(false),
          requireBinaryAuthorization: z.boolean().default(true),
        })
        .prefault({}),
      /** How a pool's Triton is reached: `internal` (VPC-only load balancer) or `gateway` (GKE Gateway). */
      exposure: z
        .strictObject({
          mode: z.enum(['internal', 'gateway']).default('internal'),
          gateway: z
            .strictObject({
              className: z.string().min(1).default('gke-l7-global-external-managed'),
              /** `{pool}` is replaced by the pool name, e.g. `{pool}.inference.example.com`. */
              hostname: z.string().min(1).optional(),
              /** The Cloud Armor security policy attached to every exposed backend. */
              cloudArmorPolicy: z
                .string()
                .regex(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Cloud Armor policy name')
                .optional(),
            })
            .optional(),
          /** What a tick does when live exposure differs from the policy. */
          onDrift: z.enum(['repair', 'report']).default('repair'),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Hard ceilings no plan may exceed; required, because they are the last line against runaway cost. */
  guardrails: z.strictObject({
    maxGpusTotal: positiveInt(),
    maxGpusPerPool: positiveInt(),
    maxNodes: positiveInt(),
    maxDollarsPerHour: z.number().positive(),
  }),
});

export type Policy = z.output<typeof policySchema>;
export type PolicyInput = z.input<typeof policySchema>;
export type GpuClassOverride = z.output<typeof gpuClassSchema>;
export type ModelPolicy = z.output<typeof modelPolicySchema>;
export type ModelOverride = z.output<typeof modelOverrideSchema>;
export type AlertRule = z.output<typeof alertRuleSchema>;
export type Schedule = z.output<typeof scheduleSchema>;
export type ScheduleTarget = Schedule['target'];
export type Guardrails = Policy['guardrails'];
