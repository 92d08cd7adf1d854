import { z } from 'zod';
import { type PubSubEvent, parsePubSubEvent } from './pubsub';
import { parseOrThrow } from './validation';

export const SCHEDULER_API_VERSION = 'inferplane.dev/scheduler/v1';

const scheduleName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'schedule names are lower-case DNS labels (a-z, 0-9, -)')
  .max(63);

/**
 * reconcile-schedules: evaluate every schedule window at the tick's time and make the cluster match
 * (scale down inside a downtime window, restore outside it). Idempotent, so a skipped or doubled
 * Scheduler tick is harmless.
 */
const reconcileSchedules = z.strictObject({
  apiVersion: z.literal(SCHEDULER_API_VERSION),
  command: z.literal('reconcile-schedules'),
  /** Plan and log (and publish) what would change, without writing. */
  dryRun: z.boolean().default(false),
  /**
   * Evaluate the schedules as of this time instead of the delivery's (RFC 3339). Set only by the
   * sandbox's simulated scheduler (a time offset, to watch a night in minutes) and `inferctl tick
   * --at`; Cloud Scheduler never sets it.
   */
  at: z.iso.datetime({ offset: true, error: 'at must be an RFC 3339 timestamp' }).optional(),
  scope: z
    .strictObject({
      /** Only these schedules; absent means all schedules in the policy. */
      schedules: z
        .array(scheduleName)
        .min(1, 'schedules, when given, must name at least one schedule')
        .refine((names) => new Set(names).size === names.length, 'schedules must not repeat a name')
        .optional(),
    })
    .optional(),
});

/**
 * rotate-security: make credentials and network policies compliant now (rotate the secret if older
 * than its maximum age, re-apply the desired NetworkPolicies). A tick never forces a rotation;
 * `force: true` (a one-off job) does.
 */
const rotateSecurity = z.strictObject({
  apiVersion: z.literal(SCHEDULER_API_VERSION),
  command: z.literal('rotate-security'),
  dryRun: z.boolean().default(false),
  /** Rotate every pool's keys now, whatever their age (an operator's one-off job, not the tick). */
  force: z.boolean().optional(),
});

/** The command shapes without the apiVersion pre-check; used to publish the JSON Schema. */
export const schedulerCommandBodySchema = z.discriminatedUnion(
  'command',
  [reconcileSchedules, rotateSecurity],
  {
    error: (iss) =>
      iss.code === 'invalid_union'
        ? 'command must be one of "reconcile-schedules", "rotate-security"'
        : undefined,
  },
);

/**
 * Cloud Scheduler command payload (the Pub/Sub message data). Objects are strict: a misspelled field
 * (`dryrun`) is an error, not a silent real run. The apiVersion is checked first so a payload from a
 * newer producer gets a version error rather than a list of field errors.
 */
export const schedulerCommandSchema = z
  .looseObject({
    apiVersion: z
      .string({ error: `apiVersion is required ("${SCHEDULER_API_VERSION}")` })
      .refine((v) => v === SCHEDULER_API_VERSION, {
        error: (iss) =>
          `unsupported apiVersion ${JSON.stringify(iss.input)}; supported: "${SCHEDULER_API_VERSION}"`,
      }),
  })
  .pipe(schedulerCommandBodySchema);

export type SchedulerCommand = z.output<typeof schedulerCommandSchema>;
export type SchedulerCommandInput = z.input<typeof schedulerCommandBodySchema>;

export function parseSchedulerCommand(payload: unknown): SchedulerCommand {
  return parseOrThrow(schedulerCommandSchema, payload, 'Scheduler command');
}

export function parseSchedulerCommandEvent(input: unknown): PubSubEvent<SchedulerCommand> {
  return parsePubSubEvent(input, schedulerCommandSchema, 'Scheduler command event');
}
