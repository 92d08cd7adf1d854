/**
 * A ready-made `publish` for the alert evaluator: the official Pub/Sub client against the
 * emulator (`emulatorHost`, or PUBSUB_EMULATOR_HOST). Topics are full names
 * (`projects/P/topics/T`), as a pubsub notification channel's `labels.topic` holds them.
 */
import { PubSub } from '@google-cloud/pubsub';
import type { Publish } from './alerts';

export interface PubSubPublisher {
  publish: Publish;
  close(): Promise<void>;
}

export function pubsubPublisher(opts: { projectId?: string; emulatorHost?: string } = {}): PubSubPublisher {
  const host = opts.emulatorHost ?? process.env.PUBSUB_EMULATOR_HOST;
  if (!host) throw new Error('pubsubPublisher needs emulatorHost or PUBSUB_EMULATOR_HOST');
  const pubsub = new PubSub({
    projectId: opts.projectId ?? 'local-project',
    apiEndpoint: host,
    emulatorMode: true,
  });
  return {
    publish: async (topic, data, attributes) => {
      await pubsub.topic(topic).publishMessage({ data, attributes });
    },
    close: () => pubsub.close(),
  };
}
