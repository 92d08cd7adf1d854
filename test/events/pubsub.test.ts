import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  decodePubSubJson,
  encodePubSubJson,
  PUBSUB_MESSAGE_PUBLISHED,
  parsePubSubEvent,
  parsePubSubMessage,
} from '../../events/pubsub';
import { captureValidationError } from './fixtures';

const inner = z.strictObject({ order: z.strictObject({ id: z.string(), lines: z.array(z.number().int()) }) });

function body(data: string | undefined, message: Record<string, unknown> = {}) {
  return {
    subscription: 'projects/p/subscriptions/s',
    message: {
      ...(data === undefined ? {} : { data }),
      messageId: '42',
      publishTime: '2026-01-01T00:00:00Z',
      ...message,
    },
  };
}

describe('parsePubSubMessage', () => {
  it('decodes, parses and returns the message metadata', () => {
    // Prepare
    const data = body(encodePubSubJson({ order: { id: 'a', lines: [1, 2] } }), {
      attributes: { origin: 'test' },
      orderingKey: 'k',
    });

    // Act
    const message = parsePubSubMessage(data, inner);

    // Assess
    expect(message).toEqual({
      payload: { order: { id: 'a', lines: [1, 2] } },
      attributes: { origin: 'test' },
      messageId: '42',
      publishTime: '2026-01-01T00:00:00Z',
      orderingKey: 'k',
      subscription: 'projects/p/subscriptions/s',
    });
  });

  it.each([
    { name: 'a nested field', payload: { order: { id: 1, lines: [] } }, paths: ['message.data.order.id'] },
    {
      name: 'an array element',
      payload: { order: { id: 'a', lines: [1, 'x'] } },
      paths: ['message.data.order.lines.1'],
    },
    {
      name: 'an unknown key',
      payload: { order: { id: 'a', lines: [], note: 1 } },
      paths: ['message.data.order.note'],
    },
    { name: 'the root', payload: 'order', paths: ['message.data'] },
  ])('re-paths an inner error in $name', ({ payload, paths }) => {
    // Act
    const error = captureValidationError(() => parsePubSubMessage(body(encodePubSubJson(payload)), inner));

    // Assess
    expect(error.issues.map((i) => i.path)).toEqual(paths);
  });

  it.each([
    { name: 'invalid characters', data: 'eyJh*mRlciI6MX0=', message: /not valid base64/ },
    { name: 'missing padding', data: 'eyJvcmRlciI6MX0', message: /not valid base64/ },
    { name: 'URL-safe alphabet', data: 'eyJvcmRlciI6Ij8_In0=', message: /not valid base64/ },
    { name: 'whitespace', data: 'eyJv cmRlciI6MX0=', message: /not valid base64/ },
    { name: 'non-JSON text', data: Buffer.from('hello').toString('base64'), message: /not JSON/ },
    {
      name: 'non-UTF-8 bytes',
      data: Buffer.from([0xff, 0xfe, 0x7b]).toString('base64'),
      message: /not UTF-8/,
    },
    { name: 'empty data', data: '', message: /is empty/ },
    { name: 'absent data', data: undefined, message: /is empty/ },
  ])('rejects $name at message.data', ({ data, message }) => {
    // Act
    const error = captureValidationError(() => parsePubSubMessage(body(data), inner));

    // Assess
    expect(error.issues).toEqual([{ path: 'message.data', message: expect.stringMatching(message) }]);
  });

  it('accepts the snake_case spellings and defaults attributes to {}', () => {
    // Prepare
    const data = {
      message: {
        data: encodePubSubJson({ order: { id: 'a', lines: [] } }),
        message_id: '7',
        publish_time: '2026-01-01T00:00:00.123456789Z',
      },
    };

    // Act
    const message = parsePubSubMessage(data, inner);

    // Assess
    expect(message).toMatchObject({
      messageId: '7',
      publishTime: '2026-01-01T00:00:00.123456789Z',
      attributes: {},
    });
    expect(message.subscription).toBeUndefined();
  });

  it('reports a missing message id and publish time on the envelope', () => {
    // Act
    const error = captureValidationError(() => parsePubSubMessage({ message: { data: 'e30=' } }, inner));

    // Assess
    expect(error.issues.map((i) => i.path)).toEqual(['message.messageId', 'message.publishTime']);
  });

  it('round-trips non-ASCII JSON', () => {
    expect(decodePubSubJson(encodePubSubJson({ s: 'modèle – 模型' }))).toEqual({ s: 'modèle – 模型' });
  });
});

describe('parsePubSubEvent', () => {
  const context = { specversion: '1.0', id: '42', source: '//pubsub.googleapis.com/projects/p/topics/t' };

  it('refuses another event type at `type`', () => {
    // Act
    const error = captureValidationError(() =>
      parsePubSubEvent({ ...context, type: 'google.cloud.storage.object.v1.finalized', data: {} }, inner),
    );

    // Assess
    expect(error.issues.map((i) => i.path)).toEqual(['type']);
  });

  it('paths inner errors from the event root', () => {
    // Act
    const error = captureValidationError(() =>
      parsePubSubEvent(
        { ...context, type: PUBSUB_MESSAGE_PUBLISHED, data: body(encodePubSubJson({})) },
        inner,
      ),
    );

    // Assess
    expect(error.issues.map((i) => i.path)).toEqual(['data.message.data.order']);
  });
});
