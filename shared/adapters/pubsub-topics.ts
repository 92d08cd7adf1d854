/**
 * Publishing one message to a named Pub/Sub topic, for operator tools (`inferctl tick`, `inferctl
 * alert`): the official client against Google Cloud (Application Default Credentials) or the
 * emulator. Loaded on first use, so importing this module stays cheap.
 */
import type { PubSub } from '@google-cloud/pubsub';

export interface TopicPublisher {
  /** Publishes `data` to `topic` (a short name or `projects/P/topics/T`); resolves to the message id. */
  publish(topic: string, data: Buffer, attributes?: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}

export function createTopicPublisher(opts: { projectId: string; emulatorHost?: string }): TopicPublisher {
  let client: Promise<PubSub> | undefined;
  const pubsub = () => {
    client ??= import('@google-cloud/pubsub').then(
      ({ PubSub }) =>
        new PubSub({
          projectId: opts.projectId,
          ...(opts.emulatorHost ? { apiEndpoint: opts.emulatorHost, emulatorMode: true } : {}),
        }),
    );
    return client;
  };
  return {
    publish: async (topic, data, attributes = {}) =>
      (await pubsub()).topic(topic, { batching: { maxMessages: 1, maxMilliseconds: 0 } }).publishMessage({
        data,
        attributes,
      }),
    close: async () => {
      if (client) await (await client).close();
    },
  };
}
