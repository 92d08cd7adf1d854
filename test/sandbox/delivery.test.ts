/**
 * Pub/Sub to a function as the sandbox wires it, with stand-in subscribers in place of the
 * functions: each must receive a messagePublished CloudEvent the product's own parser accepts,
 * through the in-process push and through the emulator's push subscriptions.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { reconcileSchedulesCommand } from '../../cli/messages';
import { parseSchedulerCommandEvent } from '../../events/scheduler';
import { InProcessBus } from '../../scripts/sandbox/delivery';
import { wireEmulator } from '../../scripts/sandbox/pubsub';
import { startControlServer } from '../../scripts/sandbox/server';
import { emulatorAbsentReason, startPubSubEmulator } from '../support/pubsub-emulator';

interface Received {
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** A stand-in function: records each delivery and answers `statuses` in turn (then 204). */
async function standIn(
  statuses: number[] = [],
): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(statuses.shift() ?? 204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`, received, server };
}

/** The CloudEvent the Functions Framework builds from a binary-mode request. */
function asCloudEvent(r: Received): Record<string, unknown> {
  const ce: Record<string, unknown> = { data: r.body, datacontenttype: r.headers['content-type'] };
  for (const [k, v] of Object.entries(r.headers)) if (k.startsWith('ce-')) ce[k.slice(3)] = v;
  return ce;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

describe('in-process push (no emulator)', () => {
  it('delivers a messagePublished CloudEvent to every subscriber of the topic, and retries a failure', async () => {
    // Prepare
    const applySchedules = await standIn([500]);
    const scaleOnAlert = await standIn();
    const other = await standIn();
    servers.push(applySchedules.server, scaleOnAlert.server, other.server);
    const bus = new InProcessBus('local-project', () => undefined, { initialBackoffMs: 10 });
    bus.subscribe('inferplane-ticks', { name: 'applySchedules', url: applySchedules.url });
    bus.subscribe('projects/local-project/topics/inferplane-ticks', {
      name: 'scaleOnAlert',
      url: scaleOnAlert.url,
    });
    bus.subscribe('inferplane-alerts', { name: 'other', url: other.url });

    // Act
    const id = await bus.publish(
      'inferplane-ticks',
      Buffer.from(JSON.stringify(reconcileSchedulesCommand('2026-12-02T22:00:00Z'))),
      { 'inferplane-job': 'test' },
    );
    await bus.idle();

    // Assess
    expect(applySchedules.received).toHaveLength(2);
    expect(scaleOnAlert.received).toHaveLength(1);
    expect(other.received).toHaveLength(0);
    const event = parseSchedulerCommandEvent(asCloudEvent(scaleOnAlert.received[0] as Received));
    expect(event.source).toBe('//pubsub.googleapis.com/projects/local-project/topics/inferplane-ticks');
    expect(event.message.messageId).toBe(id);
    expect(event.message.attributes).toEqual({ 'inferplane-job': 'test' });
    expect(event.message.payload).toMatchObject({
      command: 'reconcile-schedules',
      at: '2026-12-02T22:00:00Z',
    });
  });

  it('the sandbox server publishes in-process for inferctl, and refuses a body that is not a message', async () => {
    // Prepare
    const fn = await standIn();
    servers.push(fn.server);
    const bus = new InProcessBus('local-project', () => undefined);
    bus.subscribe('inferplane-ticks', { name: 'applySchedules', url: fn.url });
    const control = await startControlServer({
      project: 'local-project',
      status: async () => {
        throw new Error('not in this test');
      },
      publish: (t, d, a) => bus.publish(t, d, a),
      load: async () => ({}),
      functions: { applySchedules: fn.url },
      log: () => undefined,
    });
    try {
      // Act
      const data = Buffer.from(JSON.stringify(reconcileSchedulesCommand())).toString('base64');
      const ok = await fetch(`${control.url}/api/publish`, {
        method: 'POST',
        body: JSON.stringify({ topic: 'inferplane-ticks', data }),
      });
      const bad = await fetch(`${control.url}/api/publish`, {
        method: 'POST',
        body: JSON.stringify({ topic: 1 }),
      });
      await bus.idle();

      // Assess
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ messageId: expect.any(String) });
      expect(bad.status).toBe(400);
      expect(fn.received).toHaveLength(1);
    } finally {
      await control.close();
    }
  });
});

const absent = emulatorAbsentReason();
if (absent) console.warn(absent);

describe.skipIf(absent !== undefined)('emulator push subscriptions', () => {
  it('deliver through the sandbox server to the function as a messagePublished CloudEvent; a 500 is redelivered', async () => {
    // Prepare
    const emulator = await startPubSubEmulator();
    const fn = await standIn([500]);
    servers.push(fn.server);
    const control = await startControlServer({
      project: 'local-project',
      status: async () => {
        throw new Error('not in this test');
      },
      load: async () => ({}),
      functions: { applySchedules: fn.url },
      log: () => undefined,
    });
    const topic = `delivery-test-${process.pid}-${Date.now()}`;
    const wired = await wireEmulator(
      emulator.host,
      'local-project',
      [topic],
      [
        {
          topic,
          subscription: `${topic}-applySchedules`,
          pushEndpoint: `${control.url}/push/applySchedules?topic=${topic}`,
        },
      ],
    );
    const { PubSub } = await import('@google-cloud/pubsub');
    const pubsub = new PubSub({ projectId: 'local-project', apiEndpoint: emulator.host, emulatorMode: true });
    try {
      // Act
      const id = await pubsub.topic(topic).publishMessage({ json: reconcileSchedulesCommand() });
      await until(() => fn.received.length >= 2);

      // Assess
      expect(fn.received.length).toBeGreaterThanOrEqual(2);
      const event = parseSchedulerCommandEvent(asCloudEvent(fn.received[1] as Received));
      expect(event.message.messageId).toBe(id);
      expect(event.message.subscription).toBe(`projects/local-project/subscriptions/${topic}-applySchedules`);
      expect(event.message.payload).toMatchObject({ command: 'reconcile-schedules' });
    } finally {
      await wired.remove();
      await wired.close();
      await pubsub.close();
      await control.close();
      await emulator.stop();
    }
  }, 120_000);
});
