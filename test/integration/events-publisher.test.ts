import { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PubSubEventPublisher } from '../../shared/adapters/events-publisher';
import { type Emulator, emulatorAbsentReason, startPubSubEmulator } from '../support/pubsub-emulator';

const absent = emulatorAbsentReason();
if (absent) console.warn(`SKIPPED: ${absent}`);

describe.skipIf(absent !== undefined)('PubSubEventPublisher against the Pub/Sub emulator', () => {
  let emulator: Emulator;
  let pubsub: PubSub;

  beforeAll(async () => {
    emulator = await startPubSubEmulator();
    pubsub = new PubSub({ projectId: 'local-project', apiEndpoint: emulator.host, emulatorMode: true });
  }, 120_000);

  afterAll(async () => {
    await pubsub?.close();
    await emulator?.stop();
  });

  it('publishes a CloudEvent in binary mode: ce-* attributes and the JSON data', async () => {
    // Prepare
    const suffix = Math.random().toString(36).slice(2, 8);
    const [topic] = await pubsub.createTopic(`events-${suffix}`);
    const [subscription] = await topic.createSubscription(`events-sub-${suffix}`);
    const publisher = new PubSubEventPublisher(pubsub, topic.name);

    // Act
    const messageId = await publisher.publish({
      specversion: '1.0',
      id: 'evt-1',
      source: '//inferplane.dev/projects/local-project/functions/deployModel',
      type: 'dev.inferplane.model.v1.deployed',
      time: '2026-11-28T12:00:00.000Z',
      subject: 'models/resnet50/versions/3',
      data: { model: 'resnet50', version: 3 },
    });
    const received = await new Promise<{ data: Buffer; attributes: Record<string, string> }>(
      (resolve, reject) => {
        subscription.once('message', (m) => {
          m.ack();
          resolve({ data: m.data, attributes: m.attributes });
        });
        subscription.once('error', reject);
      },
    );
    await subscription.close();

    // Assess
    expect(messageId).toMatch(/^\d+$/);
    expect(received.attributes).toMatchObject({
      'ce-specversion': '1.0',
      'ce-id': 'evt-1',
      'ce-type': 'dev.inferplane.model.v1.deployed',
      'ce-subject': 'models/resnet50/versions/3',
    });
    expect(JSON.parse(received.data.toString('utf8'))).toEqual({ model: 'resnet50', version: 3 });
  });
});
