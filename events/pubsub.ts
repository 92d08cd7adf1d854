import { z } from 'zod';
import { ValidationError } from '../shared/runtime/errors';
import { expectCloudEventType, parseCloudEvent, withDataPath } from './cloudevent';
import { parseOrThrow, toValidationIssues } from './validation';

export const PUBSUB_MESSAGE_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished';

const timestamp = z.iso.datetime({ offset: true, error: 'must be an RFC 3339 timestamp' });

const pubsubMessageSchema = z
  .looseObject({
    data: z.string().optional(),
    attributes: z.record(z.string(), z.string()).optional(),
    // Eventarc sends camelCase; the framework's conversion of legacy/push bodies may add snake_case.
    messageId: z.string().min(1).optional(),
    message_id: z.string().min(1).optional(),
    publishTime: timestamp.optional(),
    publish_time: timestamp.optional(),
    orderingKey: z.string().optional(),
  })
  .transform((m, ctx) => {
    const messageId = m.messageId ?? m.message_id;
    const publishTime = m.publishTime ?? m.publish_time;
    if (messageId === undefined) {
      ctx.issues.push({ code: 'custom', input: m, path: ['messageId'], message: 'messageId is required' });
    }
    if (publishTime === undefined) {
      ctx.issues.push({
        code: 'custom',
        input: m,
        path: ['publishTime'],
        message: 'publishTime is required',
      });
    }
    if (messageId === undefined || publishTime === undefined) return z.NEVER;
    return {
      data: m.data,
      attributes: m.attributes ?? {},
      messageId,
      publishTime,
      ...(m.orderingKey ? { orderingKey: m.orderingKey } : {}),
    };
  });

/** `data` of google.cloud.pubsub.topic.v1.messagePublished, spellings normalised to camelCase. */
export const messagePublishedDataSchema = z.looseObject({
  subscription: z.string().optional(),
  message: pubsubMessageSchema,
});

export type MessagePublishedData = z.output<typeof messagePublishedDataSchema>;

export interface PubSubMessage<T> {
  payload: T;
  attributes: Record<string, string>;
  messageId: string;
  publishTime: string;
  orderingKey?: string;
  subscription?: string;
}

// Standard alphabet with mandatory padding, which is what Pub/Sub emits. Buffer.from(..., 'base64')
// alone would silently skip invalid characters and decode garbage.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes base64 JSON message data; errors are reported at `message.data`. */
export function decodePubSubJson(data: string | undefined, what = 'Pub/Sub message'): unknown {
  const fail = (message: string): never => {
    throw new ValidationError(what, [{ path: 'message.data', message }]);
  };
  if (data === undefined || data === '') return fail('is empty: expected base64-encoded JSON');
  if (!BASE64.test(data)) return fail('is not valid base64');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(data, 'base64'));
  } catch {
    return fail('is not UTF-8 text once base64-decoded');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    return fail(`is not JSON once base64-decoded (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** The inverse of decodePubSubJson, for publishers, local fakes and tests. */
export function encodePubSubJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

/**
 * Envelope parse in the style of powertools' parser: validate the messagePublished data, decode
 * `message.data` (base64 JSON), then parse the payload with `innerSchema`. Every issue names the real
 * field relative to the event data, e.g. `message.data.incident.state`.
 */
export function parsePubSubMessage<S extends z.ZodType>(
  data: unknown,
  innerSchema: S,
  what = 'Pub/Sub message',
): PubSubMessage<z.output<S>> {
  const envelope = parseOrThrow(messagePublishedDataSchema, data, what);
  const raw = decodePubSubJson(envelope.message.data, what);
  const result = innerSchema.safeParse(raw);
  if (!result.success) {
    throw new ValidationError(what, toValidationIssues(result.error, 'message.data'), {
      cause: result.error,
    });
  }
  const { attributes, messageId, publishTime, orderingKey } = envelope.message;
  return {
    payload: result.data,
    attributes,
    messageId,
    publishTime,
    ...(orderingKey !== undefined ? { orderingKey } : {}),
    ...(envelope.subscription !== undefined ? { subscription: envelope.subscription } : {}),
  };
}

export type PubSubEvent<T> = ReturnType<typeof parseCloudEvent> & { message: PubSubMessage<T> };

/**
 * Validates a delivered messagePublished CloudEvent and its payload. Issues are pathed from the
 * event (`type`, `data.message.data.incident.state`).
 */
export function parsePubSubEvent<S extends z.ZodType>(
  input: unknown,
  innerSchema: S,
  what = 'Pub/Sub message published event',
): PubSubEvent<z.output<S>> {
  const ce = parseCloudEvent(input);
  expectCloudEventType(ce, PUBSUB_MESSAGE_PUBLISHED);
  const message = withDataPath(what, () => parsePubSubMessage(ce.data, innerSchema, what));
  return { ...ce, message };
}
