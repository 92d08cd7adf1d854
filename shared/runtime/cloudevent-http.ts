/**
 * The CloudEvents HTTP protocol binding (v1.0.2), as the functions receive it: binary mode (`ce-*`
 * headers, the body is `data`) and structured mode (`application/cloudevents+json`, the body is
 * the event). Pure: the caller hands over the request's headers and its raw bytes.
 *
 * Header values are percent-encoded by the sender (section 3.1.3.2): space, `"`, `%` and every
 * character outside U+0021-U+007E, as the `%XX` of its UTF-8 bytes. A receiver first unquotes a
 * double-quoted value (older senders), then decodes one round; bytes that are not UTF-8 are an error.
 *
 * Everything a delivery can get wrong (missing attributes, a broken header, a body that is not
 * JSON, too large or too deep) is a ValidationError / LimitExceededError, so the runtime
 * acknowledges it as a rejection instead of answering an error the platform would retry.
 */
import { createHash } from 'node:crypto';
import {
  escapeUserText,
  LimitExceededError,
  limitIssue,
  ValidationError,
  type ValidationIssue,
} from './errors';

export interface EventBodyLimits {
  /** Largest body read, in bytes. */
  maxEventBytes: number;
  /** Deepest JSON nesting of the body. */
  maxEventDepth: number;
}

/** Eventarc's own limit on an event is 512 KiB; a storage event's body is 3 levels deep. */
export const DEFAULT_EVENT_BODY_LIMITS: Readonly<EventBodyLimits> = Object.freeze({
  maxEventBytes: 1024 * 1024,
  maxEventDepth: 32,
});

/** The CloudEvent as the runtime hands it to a handler (the Functions Framework's shape). */
export interface DecodedCloudEvent {
  id: string;
  source: string;
  type: string;
  specversion: string;
  subject?: string;
  time?: string;
  traceparent?: string;
  datacontenttype?: string;
  data?: unknown;
  [extension: string]: unknown;
}

/** Percent-encodes one attribute value for a `ce-*` header (CloudEvents HTTP binding 3.1.3.2). */
export function encodeHeaderValue(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x21 && code <= 0x7e && ch !== '"' && ch !== '%') out += ch;
    else
      for (const byte of Buffer.from(ch, 'utf8'))
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes one `ce-*` header value: unquotes a double-quoted value (with backslash escapes), then
 * one round of percent-decoding (lower-case hex accepted, unneeded escapes accepted).
 * @throws Error saying what is wrong (a `%` without two hex digits, bytes that are not UTF-8).
 */
export function decodeHeaderValue(raw: string): string {
  let value = raw.trim();
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    value = value.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  if (!value.includes('%')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25) {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error(`'%' at ${i} is not followed by two hex digits`);
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (c > 0x7f) {
      // Not ASCII on the wire at all (a sender that did not encode): keep the character's bytes.
      for (const b of Buffer.from(value[i]!, 'utf8')) bytes.push(b);
    } else {
      bytes.push(c);
    }
  }
  try {
    return FATAL_UTF8.decode(Uint8Array.from(bytes));
  } catch {
    throw new Error('the percent-encoded bytes are not UTF-8');
  }
}

/**
 * The deepest nesting of arrays and objects in JSON text, counted without parsing (strings are
 * skipped), stopping as soon as `stopAt` is passed: linear, no recursion, no allocation.
 */
export function jsonDepth(text: Uint8Array, stopAt = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const b = text[i]!;
    if (inString) {
      if (b === 0x5c) i++;
      else if (b === 0x22) inString = false;
      continue;
    }
    if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > stopAt) return max;
      }
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return max;
}

/** The depth of an already parsed value, iteratively (a 100,000-deep value never recurses). */
export function valueDepth(value: unknown, stopAt = Number.POSITIVE_INFINITY): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) continue;
    const depth = d + 1;
    if (depth > max) {
      max = depth;
      if (max > stopAt) return max;
    }
    for (const child of Object.values(v)) stack.push([child, depth]);
  }
  return max;
}

const REQUIRED = ['id', 'source', 'specversion', 'type'] as const;
const ATTRIBUTE_NAME = /^[a-z0-9]{1,20}$/;

function isJsonType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json') || type === 'text/json';
}

function headerValue(headers: Readonly<Record<string, string | string[] | undefined>>, name: string) {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** What is known of an unusable delivery, so its rejection can still say which event it was. */
export interface PartialEvent {
  id: string;
  source: string;
  type: string;
  subject?: string;
}

/**
 * A stand-in identity for a delivery whose attributes could not be read: the raw `ce-*` values,
 * escaped, or a digest of the request for the id, so each such delivery is logged once and named.
 */
export function partialEventOf(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  raw: Uint8Array | undefined,
): PartialEvent {
  const get = (name: string) => {
    const v = headerValue(headers, `ce-${name}`);
    if (v === undefined) return undefined;
    try {
      return escapeUserText(decodeHeaderValue(v), 200);
    } catch {
      return escapeUserText(v, 200);
    }
  };
  const digest = createHash('sha256')
    .update(JSON.stringify(Object.entries(headers).filter(([k]) => k.startsWith('ce-'))))
    .update(raw ?? new Uint8Array(0))
    .digest('hex')
    .slice(0, 32);
  const subject = get('subject');
  return {
    id: get('id') || `unidentified-${digest}`,
    source: get('source') || 'unknown',
    type: get('type') || 'unknown',
    ...(subject ? { subject } : {}),
  };
}

/**
 * Reads one CloudEvent from an HTTP request.
 * @param body what the body parser made of the bytes (JSON value, string, Buffer or undefined)
 * @param raw the body's bytes, when known (checked for size and depth before anything walks it)
 * @throws LimitExceededError (maxEventBytes, maxEventDepth), ValidationError for everything else.
 */
export function cloudEventFromHttp(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: unknown,
  raw: Uint8Array | undefined,
  limits: EventBodyLimits,
  /** The request's path: a raw Pub/Sub push names its topic there (`.../projects/P/topics/T`). */
  requestPath?: string,
): DecodedCloudEvent {
  if (raw !== undefined && raw.byteLength > limits.maxEventBytes) {
    throw new LimitExceededError('CloudEvent', [
      limitIssue('(body)', 'maxEventBytes', raw.byteLength, limits.maxEventBytes, 'the body (bytes)'),
    ]);
  }
  const depth =
    raw !== undefined && Buffer.isBuffer(body) === false && typeof body !== 'string'
      ? jsonDepth(raw, limits.maxEventDepth)
      : valueDepth(body, limits.maxEventDepth);
  if (depth > limits.maxEventDepth) {
    throw new LimitExceededError('CloudEvent', [
      limitIssue(
        '(body)',
        'maxEventDepth',
        `more than ${limits.maxEventDepth}`,
        limits.maxEventDepth,
        'the nesting of the body',
      ),
    ]);
  }
  const contentType = headerValue(headers, 'content-type');
  const structured = contentType?.split(';')[0]?.trim().toLowerCase() === 'application/cloudevents+json';
  const issues: ValidationIssue[] = [];
  const event: Record<string, unknown> = {};

  if (structured) {
    if (body === null || typeof body !== 'object' || Array.isArray(body) || Buffer.isBuffer(body)) {
      throw new ValidationError('CloudEvent', [
        { path: '(body)', message: 'a structured-mode event must be a JSON object' },
      ]);
    }
    Object.assign(event, body);
  } else {
    for (const [name, value] of Object.entries(headers)) {
      if (!name.startsWith('ce-') || value === undefined) continue;
      const attribute = name.slice(3);
      const text = Array.isArray(value) ? value.join(',') : value;
      if (!ATTRIBUTE_NAME.test(attribute)) {
        issues.push({
          path: `header ${escapeUserText(name, 60)}`,
          message: 'is not a CloudEvents attribute name (lower-case letters and digits, at most 20)',
        });
        continue;
      }
      try {
        event[attribute] = decodeHeaderValue(text);
      } catch (err) {
        issues.push({ path: `header ${name}`, message: `cannot be decoded: ${(err as Error).message}` });
      }
    }
    const missing = REQUIRED.filter((a) => headerValue(headers, `ce-${a}`) === undefined);
    if (missing.length === REQUIRED.length) {
      const pushed = isJsonType(contentType) ? pubSubPushEvent(body, requestPath) : undefined;
      if (pushed) return pushed;
      throw new ValidationError('CloudEvent', [
        {
          path: '(headers)',
          message: `no CloudEvent: neither ce-id, ce-source, ce-specversion and ce-type headers (binary mode) nor an application/cloudevents+json body (structured mode); content-type is ${contentType === undefined ? 'absent' : `"${escapeUserText(contentType, 80)}"`}`,
        },
      ]);
    }
    if (body !== undefined) {
      if (!isJsonType(contentType) || Buffer.isBuffer(body) || typeof body === 'string') {
        issues.push({
          path: 'data',
          message: `the body must be JSON (content-type application/json), got ${contentType === undefined ? 'no content-type' : `"${escapeUserText(contentType, 80)}"`}`,
        });
      } else {
        event.data = body;
      }
    }
    if (contentType !== undefined) event.datacontenttype = contentType;
  }
  const traceparent = headerValue(headers, 'traceparent');
  if (traceparent !== undefined && event.traceparent === undefined) event.traceparent = traceparent;

  for (const a of REQUIRED) {
    const v = event[a];
    if (typeof v !== 'string' || v.length === 0) {
      issues.push({ path: structured ? a : `header ce-${a}`, message: 'is missing or empty' });
    }
  }
  if (issues.length > 0) throw new ValidationError('CloudEvent', issues);
  return event as DecodedCloudEvent;
}

const PUBSUB_TOPIC_IN_PATH = /projects\/[^/?]+\/topics\/[^/?]+/;

/**
 * A raw Pub/Sub push body (`{message, subscription}`, a push subscription aimed straight at the
 * function rather than through Eventarc) as the `messagePublished` CloudEvent Eventarc would have
 * delivered, as the Functions Framework converts it for `cloudevent` functions: the id is the
 * message id, the time its publish time, the source the topic named in the push endpoint's path
 * (else the subscription). Undefined when the body is not one.
 */
export function pubSubPushEvent(body: unknown, requestPath?: string): DecodedCloudEvent | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || Buffer.isBuffer(body))
    return undefined;
  const { message, subscription } = body as { message?: unknown; subscription?: unknown };
  if (typeof subscription !== 'string' || message === null || typeof message !== 'object') return undefined;
  const m = message as {
    messageId?: unknown;
    message_id?: unknown;
    publishTime?: unknown;
    publish_time?: unknown;
  };
  const id =
    typeof m.messageId === 'string'
      ? m.messageId
      : typeof m.message_id === 'string'
        ? m.message_id
        : undefined;
  if (id === undefined || id.length === 0) return undefined;
  const time =
    typeof m.publishTime === 'string'
      ? m.publishTime
      : typeof m.publish_time === 'string'
        ? m.publish_time
        : undefined;
  const topic = requestPath?.match(PUBSUB_TOPIC_IN_PATH)?.[0];
  return {
    id,
    source: `//pubsub.googleapis.com/${topic ?? subscription}`,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    specversion: '1.0',
    ...(time === undefined ? {} : { time }),
    datacontenttype: 'application/json',
    data: body,
  };
}
