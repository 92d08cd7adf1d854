/**
 * Publishing a JSON message to one of the control plane's topics, wherever the target is: Google
 * Cloud (the official client, Application Default Credentials), the sandbox's Pub/Sub emulator,
 * or, where the sandbox runs without the emulator, the sandbox's in-process push.
 */
import { createTopicPublisher } from '../shared/adapters/pubsub-topics';
import { DEFAULT_TOPICS } from './messages';
import { sandboxRequest, type Target } from './sandbox-env';

export type TopicKey = keyof typeof DEFAULT_TOPICS;

export interface Published {
  topic: string;
  messageId: string;
  /** How it went: `emulator`, `in-process` (the sandbox without the emulator) or `pubsub`. */
  via: 'emulator' | 'in-process' | 'pubsub';
}

export async function publishJson(
  target: Target,
  key: TopicKey,
  payload: unknown,
  attributes: Record<string, string> = {},
  topicOverride?: string,
): Promise<Published> {
  const data = Buffer.from(JSON.stringify(payload), 'utf8');
  if (target.kind === 'sandbox') {
    const sandbox = target.sandbox;
    // No metadata server on this machine: google-auth-library must not look for one.
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    const topic = topicOverride ?? sandbox.topics[key];
    if (!sandbox.pubsubEmulatorHost) {
      const res = await sandboxRequest<{ messageId: string }>(sandbox, '/api/publish', {
        topic,
        data: data.toString('base64'),
        attributes,
      });
      return { topic, messageId: res.messageId, via: 'in-process' };
    }
    const publisher = createTopicPublisher({
      projectId: sandbox.projectId,
      emulatorHost: sandbox.pubsubEmulatorHost,
    });
    try {
      return { topic, messageId: await publisher.publish(topic, data, attributes), via: 'emulator' };
    } finally {
      await publisher.close();
    }
  }
  const project = target.env.INFERPLANE_PROJECT ?? '';
  const topic = topicOverride ?? DEFAULT_TOPICS[key];
  const emulatorHost = target.env.PUBSUB_EMULATOR_HOST;
  const publisher = createTopicPublisher({ projectId: project, ...(emulatorHost ? { emulatorHost } : {}) });
  try {
    return {
      topic,
      messageId: await publisher.publish(topic, data, attributes),
      via: emulatorHost ? 'emulator' : 'pubsub',
    };
  } finally {
    await publisher.close();
  }
}
