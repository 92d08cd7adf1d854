/**
 * Outbound control-plane events (model deployed / rejected, scaling applied, ...). Published to a
 * Pub/Sub topic in the CloudEvents Pub/Sub protocol binding's binary mode: context attributes
 * travel as `ce-*` message attributes, the message data is the event's JSON data. Subscribers
 * (Eventarc, a Slack bridge, an audit sink) can filter on `ce-type` without parsing the body.
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { EventPublisher, OutboundCloudEvent } from '../runtime/events';
import type { Logger } from '../runtime/log';

export function toPubSubMessage(event: OutboundCloudEvent): {
  data: Buffer;
  attributes: Record<string, string>;
} {
  const attributes: Record<string, string> = {
    'ce-specversion': event.specversion,
    'ce-id': event.id,
    'ce-source': event.source,
    'ce-type': event.type,
    'ce-time': event.time,
    'content-type': event.datacontenttype ?? 'application/json',
  };
  if (event.subject) attributes['ce-subject'] = event.subject;
  return { data: Buffer.from(JSON.stringify(event.data)), attributes };
}

export class PubSubEventPublisher implements EventPublisher {
  readonly #topic: Topic;

  constructor(pubsub: PubSub, topicName: string) {
    // Batching would hold a message back for up to 10 ms per publish; a function instance may be
    // frozen right after it returns, so every event is sent at once.
    this.#topic = pubsub.topic(topicName, { batching: { maxMessages: 1, maxMilliseconds: 0 } });
  }

  async publish(event: OutboundCloudEvent): Promise<string> {
    return this.#topic.publishMessage(toPubSubMessage(event));
  }
}

/** Used when no events topic is configured: the event still appears in the logs, in full. */
export class LogEventPublisher implements EventPublisher {
  constructor(private readonly log: Logger) {}

  async publish(event: OutboundCloudEvent): Promise<undefined> {
    this.log.info(`event ${event.type}`, { outboundEvent: event });
    return undefined;
  }
}

export class MemoryEventPublisher implements EventPublisher {
  readonly events: OutboundCloudEvent[] = [];

  async publish(event: OutboundCloudEvent): Promise<string> {
    this.events.push(event);
    return String(this.events.length);
  }
}
