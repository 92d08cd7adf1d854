import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ValidationError } from '../shared/runtime/errors';
import { toValidationIssues } from './validation';

/**
 * Outbound control-plane events: structured-mode CloudEvents 1.0 (JSON), typed
 * `dev.inferplane.<resource>.v1.<event>`. Data objects are strict so a field that was not designed
 * to leave the control plane (a key value, a token) fails the build instead of being published.
 */

const PROJECT_ID = '[a-z][a-z0-9-]{4,28}[a-z0-9]';
const FUNCTION_NAME = '[A-Za-z][A-Za-z0-9_-]{0,62}';
const SOURCE = new RegExp(`^//inferplane\\.dev/projects/${PROJECT_ID}/functions/${FUNCTION_NAME}$`);

/** The CloudEvent `source` of events emitted by one function. */
export function outboundSource(projectId: string, functionName: string): string {
  return `//inferplane.dev/projects/${projectId}/functions/${functionName}`;
}

/**
 * The schemas are built on first use, not at import: every function imports this module, and a
 * cold instance that publishes nothing (or one event type) would otherwise build all of them
 * before its first event (issue #16). `outboundSchemas()` builds them once.
 */
function buildOutboundSchemas() {
  const decimalString = z.string().regex(/^\d+$/, 'must be a decimal integer string');
  const nonEmpty = z.string().min(1);
  const issue = z.strictObject({ path: z.string(), message: nonEmpty });
  /** Stable machine-readable code, e.g. INVALID_MODEL_CONFIG. */
  const reasonCode = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'must be an UPPER_SNAKE_CASE code');

  const sourceObject = z.strictObject({ bucket: nonEmpty, name: nonEmpty, generation: decimalString });

  /** One change the control plane made (or, with dryRun, would make). */
  const resourceChangeSchema = z.strictObject({
    kind: z.enum([
      'node-pool-size',
      'node-pool-autoscaling',
      'deployment-replicas',
      'hpa-replicas',
      // scaleOnAlert: the HPA's minimum, and the zones of a pool widened after a stockout.
      'hpa-min-replicas',
      'node-pool-zones',
      // scaleOnAlert: the on-demand pool added beside a Spot pool after a stockout (its maximum nodes).
      'node-pool-created',
      'node-pool-deleted',
    ]),
    /** Full resource name, e.g. `projects/p/locations/l/clusters/c/nodePools/gpu-l4` or `triton/resnet50`. */
    target: nonEmpty,
    from: z.number().int().nonnegative().nullable(),
    to: z.number().int().nonnegative(),
  });

  const modelDeployedDataSchema = z.strictObject({
    model: nonEmpty,
    version: decimalString,
    /** Triton model repository, e.g. gs://bucket/models. */
    repositoryUri: z.string().regex(/^gs:\/\/[^/]+(\/.*)?$/, 'must be a gs:// URI'),
    gpuClass: nonEmpty,
    sourceObject,
    durationMs: z.number().int().nonnegative(),
    namespace: nonEmpty.optional(),
    deploymentName: nonEmpty.optional(),
  });

  const modelRejectedDataSchema = z.strictObject({
    reason: reasonCode,
    message: nonEmpty,
    issues: z.array(issue),
    model: nonEmpty.optional(),
    sourceObject: sourceObject.optional(),
  });

  // The incident fields are absent when a scheduler tick or an unreadable payload decided.
  const scalingBase = {
    incidentId: nonEmpty.optional(),
    policyName: nonEmpty.optional(),
    incidentState: z.enum(['open', 'closed']).optional(),
    model: nonEmpty.optional(),
    /** What decided: an incident, the tick's sweep of expired scale-outs, a test notification, other. */
    trigger: z.enum(['incident', 'tick', 'test', 'other']).optional(),
    /** The target: a pool (node pool, Triton Deployment and HPA of that name). */
    pool: nonEmpty.optional(),
    /** The alert rule that routed the incident. */
    rule: nonEmpty.optional(),
  };

  const scalingAppliedDataSchema = z.strictObject({
    ...scalingBase,
    /** `scale-out` (a step up) or `restore` (back to the recorded baseline). */
    decision: z.enum(['scale-out', 'restore']).optional(),
    dryRun: z.boolean(),
    actions: z.array(resourceChangeSchema).min(1, 'an applied scaling event has at least one action'),
    /**
     * A stockout was met: the pool widened to zones that had capacity (`zonesAdded`), and, for a
     * Spot pool short everywhere, an on-demand pool added beside it for up to `maxNodes` nodes.
     */
    fallback: z
      .strictObject({
        zonesAdded: z.array(nonEmpty),
        message: nonEmpty,
        onDemand: z.strictObject({ pool: nonEmpty, maxNodes: z.number().int().positive() }).optional(),
      })
      .optional(),
  });

  const scalingSkippedDataSchema = z.strictObject({
    ...scalingBase,
    /** Why nothing was done, e.g. COOLDOWN, ALREADY_AT_TARGET, TEST_NOTIFICATION. */
    skipReason: reasonCode,
    message: nonEmpty.optional(),
    /** GUARDRAIL_REFUSED: the limits the refused plan would have broken, with its numbers. */
    violations: z
      .array(
        z.strictObject({
          guardrail: nonEmpty,
          limit: z.number(),
          actual: z.number(),
          pool: nonEmpty.optional(),
        }),
      )
      .optional(),
  });

  const scheduleAppliedDataSchema = z.strictObject({
    schedule: nonEmpty,
    /** `downtime`: the window says scaled down now; `uptime`: restored. */
    windowState: z.enum(['uptime', 'downtime']),
    dryRun: z.boolean(),
    actions: z.array(resourceChangeSchema),
    estimatedGpuHoursSaved: z.number().nonnegative(),
    estimatedUsdSaved: z.number().nonnegative(),
    /** Each target of the schedule this tick (applySchedules). */
    targets: z
      .array(
        z.strictObject({
          pool: nonEmpty,
          action: z.enum(['scale-down', 'hold', 'warm-restore', 'restore', 'none']),
          outcome: z.enum(['applied', 'planned', 'unchanged', 'failed']),
          /** A warm restore became Ready this many seconds after the window ended (< 0: before). */
          readyLateSeconds: z.number().optional(),
          /** Fields someone changed during downtime, kept at their value. */
          drift: z.array(nonEmpty).optional(),
        }),
      )
      .optional(),
  });

  /** Key ids look like `admin-20261201T235600Z-a1b2c3` (or the legacy `admin-key`): never key material. */
  const keyId = z.string().regex(/^[-._a-zA-Z0-9]{1,80}$/, 'must be a key id');

  const securityFindingSchema = z.strictObject({
    check: reasonCode,
    severity: z.enum(['warning', 'error', 'critical']),
    target: nonEmpty,
    message: nonEmpty,
  });

  const securityRotatedDataSchema = z.strictObject({
    /** NetworkPolicies of the set in force (names). */
    networkPolicies: z.array(nonEmpty),
    /** Kubernetes Secret name of the first pool's keys. Never the value. */
    secretName: nonEmpty.optional(),
    /** Key identifiers only (fingerprints or version ids), never key material. */
    keyIds: z.strictObject({ current: keyId, previous: keyId.optional() }).optional(),
    /** What started the tick: the Scheduler command, or a bundle upload. */
    trigger: z.enum(['schedule', 'bundle']).optional(),
    dryRun: z.boolean().optional(),
    /** `gs://bucket/bundles/<name>.yaml#generation` of the bundle in force, if any. */
    bundle: nonEmpty.optional(),
    /** Version (content digest) of the NetworkPolicy set in force. */
    networkPolicySet: z
      .string()
      .regex(/^[0-9a-f]{6,64}$/)
      .optional(),
    /** Managed NetworkPolicies pruned (targets). */
    pruned: z.array(nonEmpty).optional(),
    pools: z
      .array(
        z.strictObject({
          pool: nonEmpty,
          secretName: nonEmpty,
          activeKeyIds: z.array(keyId),
          rotated: z.array(keyId),
          retired: z.array(keyId),
          rolling: z.boolean(),
        }),
      )
      .optional(),
    exposure: z
      .strictObject({ mode: z.enum(['internal', 'gateway']), repaired: z.array(nonEmpty) })
      .optional(),
    findings: z.array(securityFindingSchema).optional(),
    /** Plan actions run (0 when everything already matched). */
    actions: z.number().int().nonnegative().optional(),
  });

  /**
   * rotateSecurity refused a delivery: a security bundle or a command it cannot use (every problem
   * named) or a tick it could not run safely. Nothing was changed; the bundle in force stays.
   */
  const securityRejectedDataSchema = z.strictObject({
    reason: reasonCode,
    message: nonEmpty,
    issues: z.array(issue),
    /** The bundle object refused (a bundle upload), when the delivery named one. */
    sourceObject: sourceObject.optional(),
  });

  const data = {
    'dev.inferplane.model.v1.deployed': modelDeployedDataSchema,
    'dev.inferplane.model.v1.rejected': modelRejectedDataSchema,
    'dev.inferplane.scaling.v1.applied': scalingAppliedDataSchema,
    'dev.inferplane.scaling.v1.skipped': scalingSkippedDataSchema,
    'dev.inferplane.schedule.v1.applied': scheduleAppliedDataSchema,
    'dev.inferplane.security.v1.rotated': securityRotatedDataSchema,
    'dev.inferplane.security.v1.rejected': securityRejectedDataSchema,
  } as const;

  const envelope = {
    specversion: z.literal('1.0'),
    id: nonEmpty,
    source: z.string().regex(SOURCE, 'must be //inferplane.dev/projects/<project>/functions/<function>'),
    time: z.iso.datetime({ offset: true }),
    subject: nonEmpty.optional(),
    datacontenttype: z.literal('application/json'),
  };

  function eventOf<T extends keyof typeof data>(type: T) {
    return z.strictObject({ ...envelope, type: z.literal(type), data: data[type] });
  }

  /** Any outbound event; `type` discriminates `data`. Consumers (and tests) parse with this. */
  const event = z.discriminatedUnion('type', [
    eventOf('dev.inferplane.model.v1.deployed'),
    eventOf('dev.inferplane.model.v1.rejected'),
    eventOf('dev.inferplane.scaling.v1.applied'),
    eventOf('dev.inferplane.scaling.v1.skipped'),
    eventOf('dev.inferplane.schedule.v1.applied'),
    eventOf('dev.inferplane.security.v1.rotated'),
    eventOf('dev.inferplane.security.v1.rejected'),
  ]);

  const byType = new Map<string, z.ZodType>();
  return {
    /** Each event type's `data` schema. */
    data,
    /** Any outbound event; `type` discriminates `data`. Consumers (and tests) parse with this. */
    event,
    /** The whole event of one type (envelope and data), built once per type. */
    eventOf<T extends keyof typeof data>(type: T): ReturnType<typeof eventOf<T>> {
      let schema = byType.get(type);
      if (schema === undefined) {
        schema = eventOf(type);
        byType.set(type, schema);
      }
      return schema as ReturnType<typeof eventOf<T>>;
    },
  };
}

export type OutboundSchemas = ReturnType<typeof buildOutboundSchemas>;

let schemas: OutboundSchemas | undefined;

/** The outbound schemas, built on the first call. */
export function outboundSchemas(): OutboundSchemas {
  schemas ??= buildOutboundSchemas();
  return schemas;
}

export type OutboundEventType = keyof OutboundSchemas['data'];

/** Every outbound event type (the keys of `outboundSchemas().data`, without building them). */
export const OUTBOUND_EVENT_TYPES = [
  'dev.inferplane.model.v1.deployed',
  'dev.inferplane.model.v1.rejected',
  'dev.inferplane.scaling.v1.applied',
  'dev.inferplane.scaling.v1.skipped',
  'dev.inferplane.schedule.v1.applied',
  'dev.inferplane.security.v1.rotated',
  'dev.inferplane.security.v1.rejected',
] as const satisfies readonly OutboundEventType[];

// Fails to compile when a type is added to the schemas and not to the list above.
type MissingEventTypes = Exclude<OutboundEventType, (typeof OUTBOUND_EVENT_TYPES)[number]>;
const everyEventTypeListed: [MissingEventTypes] extends [never] ? true : MissingEventTypes = true;
void everyEventTypeListed;

export type OutboundEventData<T extends OutboundEventType> = z.output<OutboundSchemas['data'][T]>;

export type OutboundEvent = z.output<OutboundSchemas['event']>;
export type OutboundEventOf<T extends OutboundEventType> = Extract<OutboundEvent, { type: T }>;

export interface OutboundEventInit<T extends OutboundEventType> {
  source: string;
  subject?: string;
  data: OutboundEventData<T>;
  /**
   * Pass a deterministic id (e.g. derived from the triggering event's source + id) so a retried
   * handler publishes the same event and consumers can deduplicate. Defaults to a random UUID.
   */
  id?: string;
  /** Defaults to now. */
  time?: Date | string;
}

/**
 * Builds and validates an outbound CloudEvent. Throws ValidationError (paths such as `data.version`,
 * `source`) when the event does not match its type's schema: a malformed event is a bug, never
 * published.
 */
export function buildOutboundEvent<T extends OutboundEventType>(
  type: T,
  init: OutboundEventInit<T>,
): OutboundEventOf<T> {
  const time = init.time instanceof Date ? init.time.toISOString() : (init.time ?? new Date().toISOString());
  const candidate = {
    specversion: '1.0',
    id: init.id ?? randomUUID(),
    source: init.source,
    type,
    time,
    ...(init.subject !== undefined ? { subject: init.subject } : {}),
    datacontenttype: 'application/json',
    data: init.data,
  };
  const result = outboundSchemas().eventOf(type).safeParse(candidate);
  if (!result.success) {
    throw new ValidationError(`Outbound ${type} event`, toValidationIssues(result.error), {
      cause: result.error,
    });
  }
  return result.data as OutboundEventOf<T>;
}

/** Validates an event received from (or about to be sent to) the outbound topic. */
export function parseOutboundEvent(input: unknown): OutboundEvent {
  const result = outboundSchemas().event.safeParse(input);
  if (!result.success) {
    throw new ValidationError('Outbound event', toValidationIssues(result.error), { cause: result.error });
  }
  return result.data;
}
