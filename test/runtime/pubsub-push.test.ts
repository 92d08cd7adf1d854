/** A raw Pub/Sub push body read as the `messagePublished` CloudEvent Eventarc would deliver. */
import { describe, expect, it } from 'vitest';
import {
  cloudEventFromHttp,
  DEFAULT_EVENT_BODY_LIMITS,
  pubSubPushEvent,
} from '../../shared/runtime/cloudevent-http';

const body = {
  message: { data: 'e30=', attributes: { a: '1' }, messageId: '42', publishTime: '2026-12-02T03:00:00.000Z' },
  subscription: 'projects/p/subscriptions/s',
};

describe('pubSubPushEvent', () => {
  it.each([
    {
      name: 'the topic from the push endpoint path',
      body,
      path: '/projects/p/topics/alerts?x=1',
      want: {
        id: '42',
        source: '//pubsub.googleapis.com/projects/p/topics/alerts',
        time: '2026-12-02T03:00:00.000Z',
      },
    },
    {
      name: 'no topic in the path: the subscription names the source',
      body,
      path: '/',
      want: { id: '42', source: '//pubsub.googleapis.com/projects/p/subscriptions/s' },
    },
    {
      name: 'the snake_case fields the push format also carries',
      body: {
        message: { data: 'e30=', message_id: '7', publish_time: '2026-12-02T03:00:00Z' },
        subscription: 's',
      },
      path: undefined,
      want: { id: '7', time: '2026-12-02T03:00:00Z' },
    },
  ])('$name', ({ body, path, want }) => {
    const event = pubSubPushEvent(body, path);
    expect(event).toMatchObject({
      ...want,
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      specversion: '1.0',
    });
    // The data is the envelope as Eventarc delivers it: {message, subscription}.
    expect(event?.data).toBe(body);
  });

  it.each([
    { name: 'no subscription', body: { message: body.message } },
    { name: 'no message id', body: { message: { data: 'e30=' }, subscription: 's' } },
    { name: 'an empty message id', body: { message: { messageId: '' }, subscription: 's' } },
    { name: 'a message that is not an object', body: { message: 'x', subscription: 's' } },
    { name: 'an array', body: [body] },
    { name: 'null', body: null },
  ])('not a push body: $name', ({ body }) => {
    expect(pubSubPushEvent(body, '/')).toBeUndefined();
  });

  it('binary-mode headers win over a push-shaped body', () => {
    const event = cloudEventFromHttp(
      {
        'content-type': 'application/json',
        'ce-id': 'ce-1',
        'ce-source': '//x',
        'ce-specversion': '1.0',
        'ce-type': 't',
      },
      body,
      undefined,
      DEFAULT_EVENT_BODY_LIMITS,
      '/projects/p/topics/alerts',
    );
    expect(event).toMatchObject({ id: 'ce-1', source: '//x', type: 't' });
  });

  it('a push-shaped body that is not JSON content is not read as one', () => {
    expect(() =>
      cloudEventFromHttp({ 'content-type': 'text/plain' }, body, undefined, DEFAULT_EVENT_BODY_LIMITS, '/'),
    ).toThrow(/no CloudEvent/);
  });
});
