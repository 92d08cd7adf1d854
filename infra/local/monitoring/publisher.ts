/**
 * A ready-made `publish` for the alert evaluator: the official Pub/Sub client against the
 * emulator (`emulatorHost`, or PUBSUB_EMULATOR_HOST). Topics are full names
 * (`projects/P/topics/T`), as a pubsub notification channel's `labels.topic` holds them. The
 * client is loaded on first publish, so importing this folder stays cheap.
 */
import type { PubSub } from '@google-cloud/pubsub';
import type { Publish } from './alerts';

export interface PubSubPublisher {
  publish: Publish;
  close(): Promise<void>;
}

export function pubsubPublisher(opts: { projectId?: string; emulatorHost?: string } = {}): PubSubPublisher {
  const host = opts.emulatorHost ?? process.env.PUBSUB_EMULATOR_HOST;
  if (!host) throw new Error('pubsubPublisher needs emulatorHost or PUBSUB_EMULATOR_HOST');
  let client: Promise<PubSub> | undefined;
  const pubsub = () => {
    client ??= import('@google-cloud/pubsub').then(
      ({ PubSub }) =>
        new PubSub({ projectId: opts.projectId ?? 'local-project', apiEndpoint: host, emulatorMode: true }),
    );
    return client;
  };
  return {
    publish: async (topic, data, attributes) => {
      await (await pubsub()).topic(topic).publishMessage({ data, attributes });
    },
    close: async () => {
      if (client) await (await client).close();
    },
  };
}
