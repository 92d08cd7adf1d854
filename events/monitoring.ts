import { z } from 'zod';
import { type PubSubEvent, parsePubSubEvent } from './pubsub';
import { parseOrThrow } from './validation';

export const SUPPORTED_NOTIFICATION_VERSIONS = ['1.2', 'test'] as const;

const labels = z.record(z.string(), z.string());

/** Monitoring sends values as strings; older channels and hand-made tests use numbers. */
const numericString = z
  .union([z.string(), z.number()], { error: 'must be a string or a number' })
  .transform((v) => String(v));

const epochSeconds = z.number().int().nonnegative().nullable();

const incidentState = z
  .string({ error: 'state must be a string' })
  .transform((s) => s.toLowerCase())
  .pipe(
    z.enum(['open', 'closed'], { error: (iss) => `state must be "open" or "closed", got "${iss.input}"` }),
  );

/** Incident of a notification with schema version 1.2. Only the id and state are relied upon. */
export const monitoringIncidentSchema = z.looseObject({
  incident_id: z.string().min(1, 'incident_id must be a non-empty string'),
  state: incidentState,
  scoping_project_id: z.string().optional(),
  scoping_project_number: numericString.optional(),
  url: z.string().optional(),
  started_at: epochSeconds.optional(),
  ended_at: epochSeconds.optional(),
  summary: z.string().optional(),
  resource_id: z.string().optional(),
  resource_name: z.string().optional(),
  resource_display_name: z.string().optional(),
  resource_type_display_name: z.string().optional(),
  resource: z.looseObject({ type: z.string(), labels: labels.optional() }).optional(),
  metric: z
    .looseObject({ type: z.string(), displayName: z.string().optional(), labels: labels.optional() })
    .optional(),
  metadata: z
    .looseObject({
      system_labels: z.record(z.string(), z.unknown()).optional(),
      user_labels: labels.optional(),
    })
    .optional(),
  policy_name: z.string().optional(),
  // Routing hints (e.g. action=scale-out, model=resnet50) live here, set on the alert policy.
  policy_user_labels: labels.optional(),
  condition_name: z.string().optional(),
  threshold_value: numericString.optional(),
  observed_value: numericString.optional(),
  condition: z.looseObject({ name: z.string().optional(), displayName: z.string().optional() }).optional(),
  documentation: z
    .looseObject({
      content: z.string().optional(),
      mime_type: z.string().optional(),
      subject: z.string().optional(),
    })
    .optional(),
  severity: z.string().optional(),
});

export type MonitoringIncident = z.output<typeof monitoringIncidentSchema>;

/**
 * "Send test notification" omits fields and upper-cases the state. It is parsed leniently (it must
 * never fail delivery) and only kept for logging: callers never act on it.
 */
export const monitoringTestIncidentSchema = z.looseObject({
  incident_id: z.string().optional(),
  state: z
    .string()
    .transform((s) => s.toLowerCase())
    .optional(),
  policy_name: z.string().optional(),
  summary: z.string().optional(),
});

export type MonitoringTestIncident = z.output<typeof monitoringTestIncidentSchema>;

const incidentNotification = z
  .looseObject({ version: z.literal('1.2'), incident: monitoringIncidentSchema })
  .transform((n) => ({ kind: 'incident' as const, version: n.version, incident: n.incident }));

const testNotification = z
  .looseObject({ version: z.literal('test'), incident: monitoringTestIncidentSchema.optional() })
  .transform((n) => ({ kind: 'test' as const, version: n.version, incident: n.incident ?? {} }));

/**
 * A Cloud Monitoring Pub/Sub notification, discriminated by `kind` so a test notification cannot be
 * mistaken for an incident. Unknown schema versions are refused at `version` rather than guessed at.
 */
export const monitoringNotificationSchema = z.discriminatedUnion(
  'version',
  [incidentNotification, testNotification],
  {
    error: (iss) => {
      if (iss.code !== 'invalid_union') return undefined;
      const input: unknown = iss.input;
      const version =
        typeof input === 'object' && input !== null ? (input as { version?: unknown }).version : undefined;
      return version === undefined
        ? `version is missing; supported notification schema versions: ${SUPPORTED_NOTIFICATION_VERSIONS.join(', ')}`
        : `unsupported notification schema version ${JSON.stringify(version)}; supported: ${SUPPORTED_NOTIFICATION_VERSIONS.join(', ')}`;
    },
  },
);

export type MonitoringNotification = z.output<typeof monitoringNotificationSchema>;

/** Parses the decoded notification JSON (paths relative to it, e.g. `incident.state`). */
export function parseMonitoringNotification(payload: unknown): MonitoringNotification {
  return parseOrThrow(monitoringNotificationSchema, payload, 'Cloud Monitoring notification');
}

/** Parses a delivered messagePublished CloudEvent carrying a Monitoring notification. */
export function parseMonitoringNotificationEvent(input: unknown): PubSubEvent<MonitoringNotification> {
  return parsePubSubEvent(input, monitoringNotificationSchema, 'Cloud Monitoring notification event');
}
