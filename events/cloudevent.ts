import { z } from 'zod';
import { decodeHeaderValue } from '../shared/runtime/cloudevent-http';
import { ValidationError } from '../shared/runtime/errors';
import { parseOrThrow, prefixIssues } from './validation';

/**
 * The CloudEvent context the Functions Framework hands to a `cloudEvent` handler. In binary mode the
 * framework copies every `ce-*` header into an attribute of the same name, so extension attributes
 * (and Eventarc's own) must pass through; the body becomes `data`.
 */
export const cloudEventSchema = z.looseObject({
  id: z.string().min(1, 'id must be a non-empty string'),
  source: z.string().min(1, 'source must be a non-empty string'),
  specversion: z.literal('1.0', { error: 'specversion must be "1.0"' }),
  type: z.string().min(1, 'type must be a non-empty string'),
  subject: z.string().optional(),
  time: z.iso.datetime({ offset: true, error: 'time must be an RFC 3339 timestamp' }).optional(),
  datacontenttype: z.string().optional(),
  traceparent: z.string().optional(),
  // Optional in CloudEvents 1.0; the type-specific data schema decides whether it must be present.
  data: z.unknown().optional(),
});

export type CloudEventContext = Omit<z.output<typeof cloudEventSchema>, 'data'>;

/** A CloudEvent whose context was validated and whose `data` has the type `T`. */
export type ReceivedCloudEvent<T = unknown> = CloudEventContext & { data: T };

/** Validates the CloudEvent context; `data` is left for the type-specific schema. */
export function parseCloudEvent(input: unknown): ReceivedCloudEvent {
  const ce = parseOrThrow(cloudEventSchema, input, 'CloudEvent');
  return { ...ce, data: ce.data };
}

/**
 * Refuses an event of another type. A trigger misconfigured to the wrong event type must be acked
 * and reported, not redelivered forever, hence a ValidationError (permanent).
 */
export function expectCloudEventType(ce: CloudEventContext, expected: string): void {
  if (ce.type !== expected) {
    throw new ValidationError('CloudEvent', [
      { path: 'type', message: `expected event type "${expected}", got "${ce.type}"` },
    ]);
  }
}

/**
 * Parses a CloudEvent's data with `schema`. Issues are re-pathed under `data.` so they name the real
 * field of the event (the HTTP body in binary mode).
 */
export function parseCloudEventData<S extends z.ZodType>(
  ce: ReceivedCloudEvent,
  schema: S,
  what: string,
): ReceivedCloudEvent<z.output<S>> {
  return { ...ce, data: parseOrThrow(schema, ce.data, what, 'data') };
}

/** Runs `fn` and re-paths any ValidationError it throws under `data.`. */
export function withDataPath<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ValidationError) {
      throw new ValidationError(what, prefixIssues(err.issues, 'data'), { cause: err });
    }
    throw err;
  }
}

/**
 * Rebuilds what the Functions Framework passes to the handler from a binary-mode HTTP delivery
 * (`ce-*` headers + JSON body), so fixtures stored as `{headers, body}` can be parsed without a
 * server. `traceparent` is carried as the framework's tracing extension. `ce-*` values are
 * percent-decoded, as the CloudEvents HTTP binding says and the deployed runtime does
 * (`cloudEventFromHttp` in shared/runtime/cloudevent-http.ts).
 */
export function cloudEventFromBinaryHttp(
  headers: Readonly<Record<string, string>>,
  body: unknown,
): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith('ce-')) event[lower.slice('ce-'.length)] = decodeHeaderValue(value);
    else if (lower === 'traceparent') event.traceparent = value;
  }
  event.data = body;
  return event;
}
