/**
 * What reached scaleOnAlert, told apart by content: a Cloud Monitoring notification (schema 1.2),
 * a "Send test notification", the schedules tick (`reconcile-schedules`: sweep expired
 * scale-outs), or anything else. Never throws on bad input: a payload that cannot be acted on is
 * classified with a reason, so the handler acknowledges and reports it and changes nothing.
 */
import { parseMonitoringNotification } from '../../events/monitoring';
import { decodePubSubJson, messagePublishedDataSchema, PUBSUB_MESSAGE_PUBLISHED } from '../../events/pubsub';
import { parseSchedulerCommand, SCHEDULER_API_VERSION } from '../../events/scheduler';
import { errorMessage, ValidationError } from '../runtime/errors';
import type { IncomingCloudEvent } from '../runtime/function';

export type IncidentState = 'open' | 'closed';

/** A schema-1.2 incident reduced to what routing and deciding need. */
export interface AlertIncident {
  incidentId: string;
  /** `condition.name` (`projects/P/alertPolicies/A/conditions/C`): stable, unlike display names. */
  condition: string;
  /** condition + incident id: the same across renotifications of one incident. */
  key: string;
  /** key + state: what deduplication remembers. */
  dedupeKey: string;
  state: IncidentState;
  /** A display name; not unique. */
  policyName: string;
  labels: Record<string, string>;
  startedAtEpochSec: number | null;
  endedAtEpochSec: number | null;
  summary: string | undefined;
  observedValue: string | undefined;
  thresholdValue: string | undefined;
}

export type SkipReasonCode =
  | 'TEST_NOTIFICATION'
  | 'UNSUPPORTED_VERSION'
  | 'MALFORMED_PAYLOAD'
  | 'NOT_FOR_THIS_FUNCTION';

export type AlertDelivery =
  | { kind: 'incident'; messageId: string; incident: AlertIncident }
  | { kind: 'test'; messageId: string; policyName: string | undefined; state: string | undefined }
  | { kind: 'tick'; messageId: string; dryRun: boolean }
  | { kind: 'ignored'; reason: SkipReasonCode; message: string; messageId: string | undefined };

export function dedupeKeyOf(key: string, state: IncidentState): string {
  return `${key}|${state}`;
}

function issuesText(err: unknown): string {
  if (err instanceof ValidationError) return err.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return errorMessage(err);
}

/** Classifies one delivered CloudEvent. */
export function classifyDelivery(event: IncomingCloudEvent): AlertDelivery {
  if (event.type !== PUBSUB_MESSAGE_PUBLISHED) {
    return {
      kind: 'ignored',
      reason: 'NOT_FOR_THIS_FUNCTION',
      message: `event type ${event.type} is not ${PUBSUB_MESSAGE_PUBLISHED}`,
      messageId: undefined,
    };
  }
  const envelope = messagePublishedDataSchema.safeParse(event.data);
  if (!envelope.success) {
    return {
      kind: 'ignored',
      reason: 'MALFORMED_PAYLOAD',
      message: `not a Pub/Sub message: ${envelope.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      messageId: undefined,
    };
  }
  const messageId = envelope.data.message.messageId;
  let payload: unknown;
  try {
    payload = decodePubSubJson(envelope.data.message.data, 'alert message');
  } catch (err) {
    return { kind: 'ignored', reason: 'MALFORMED_PAYLOAD', message: issuesText(err), messageId };
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return {
      kind: 'ignored',
      reason: 'MALFORMED_PAYLOAD',
      message: 'message.data: expected a JSON object',
      messageId,
    };
  }
  const fields = payload as Record<string, unknown>;
  if ('apiVersion' in fields || 'command' in fields) return classifyCommand(payload, messageId);
  if ('version' in fields || 'incident' in fields) return classifyNotification(payload, messageId);
  return {
    kind: 'ignored',
    reason: 'MALFORMED_PAYLOAD',
    message: 'message.data is neither a Monitoring notification (version, incident) nor a scheduler command',
    messageId,
  };
}

function classifyCommand(payload: unknown, messageId: string): AlertDelivery {
  try {
    const command = parseSchedulerCommand(payload);
    if (command.command !== 'reconcile-schedules') {
      return {
        kind: 'ignored',
        reason: 'NOT_FOR_THIS_FUNCTION',
        message: `scheduler command ${command.command} is not scaleOnAlert's (it sweeps on reconcile-schedules)`,
        messageId,
      };
    }
    return { kind: 'tick', messageId, dryRun: command.dryRun };
  } catch (err) {
    const version = (payload as { apiVersion?: unknown }).apiVersion;
    return {
      kind: 'ignored',
      reason: version !== SCHEDULER_API_VERSION ? 'UNSUPPORTED_VERSION' : 'MALFORMED_PAYLOAD',
      message: issuesText(err),
      messageId,
    };
  }
}

function classifyNotification(payload: unknown, messageId: string): AlertDelivery {
  let parsed: ReturnType<typeof parseMonitoringNotification>;
  try {
    parsed = parseMonitoringNotification(payload);
  } catch (err) {
    const version = (payload as { version?: unknown }).version;
    const known = version === '1.2' || version === 'test';
    return {
      kind: 'ignored',
      reason: known ? 'MALFORMED_PAYLOAD' : 'UNSUPPORTED_VERSION',
      message: issuesText(err),
      messageId,
    };
  }
  if (parsed.kind === 'test') {
    return {
      kind: 'test',
      messageId,
      policyName: parsed.incident.policy_name,
      state: parsed.incident.state,
    };
  }
  const i = parsed.incident;
  // Older channels and hand-made payloads lack condition.name; the policy and condition display
  // names are the next best identity (documented as weaker in the README).
  const condition =
    i.condition?.name ?? `policy:${i.policy_name ?? '?'}/condition:${i.condition_name ?? '?'}`;
  const key = `${condition}#${i.incident_id}`;
  return {
    kind: 'incident',
    messageId,
    incident: {
      incidentId: i.incident_id,
      condition,
      key,
      dedupeKey: dedupeKeyOf(key, i.state),
      state: i.state,
      policyName: i.policy_name ?? '',
      labels: { ...(i.policy_user_labels ?? {}) },
      startedAtEpochSec: i.started_at ?? null,
      endedAtEpochSec: i.ended_at ?? null,
      summary: i.summary,
      observedValue: i.observed_value,
      thresholdValue: i.threshold_value,
    },
  };
}
