import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { cloudEventFromHttp, DEFAULT_EVENT_BODY_LIMITS } from '../../shared/runtime/cloudevent-http';
import type { IncomingCloudEvent } from '../../shared/runtime/function';
import { isSchedulerCommand, registerWarmUp, warmUpOn } from '../../shared/wiring/warm';

const FIXTURES = new URL('../../events/fixtures/', import.meta.url);

async function fixtureEvent(name: string): Promise<IncomingCloudEvent> {
  const f = JSON.parse(await readFile(new URL(name, FIXTURES), 'utf8')) as {
    headers: Record<string, string>;
    body: unknown;
  };
  return cloudEventFromHttp(f.headers, f.body, undefined, DEFAULT_EVENT_BODY_LIMITS);
}

describe('isSchedulerCommand', () => {
  it.each([
    { fixture: 'scheduler/valid-rotate-security.json', command: 'rotate-security', want: true },
    { fixture: 'scheduler/valid-rotate-security.json', command: 'reconcile-schedules', want: false },
    { fixture: 'scheduler/valid-reconcile-schedules.json', command: 'reconcile-schedules', want: true },
    { fixture: 'scheduler/invalid-unknown-command.json', command: 'reconcile-schedules', want: false },
    { fixture: 'scheduler/invalid-attributes-only.json', command: 'rotate-security', want: false },
    { fixture: 'storage/valid-finalized-string-int64.json', command: 'rotate-security', want: false },
  ])('$fixture is $command: $want', async ({ fixture, command, want }) => {
    expect(isSchedulerCommand(await fixtureEvent(fixture), command)).toBe(want);
  });
});

describe('warmUpOn (the HTTP entry calls it before the delivery runs)', () => {
  function setUp(warm: () => Promise<unknown>) {
    const deps = {};
    registerWarmUp(deps, warm);
    const order: string[] = [];
    let release: () => void = () => undefined;
    const hook = warmUpOn(async () => deps, 'rotate-security');
    // As cloudEventHttpEntry runs it: the hook, then the delivery.
    const entry = async (event: IncomingCloudEvent) => {
      hook(event);
      order.push(`entry ${event.id}`);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    };
    return { order, entry, release: () => release() };
  }

  it('starts the warm-up when its own command arrives, before the delivery is handled', async () => {
    let warmed = 0;
    const { entry, release } = setUp(async () => {
      warmed += 1;
    });
    const handled = entry(await fixtureEvent('scheduler/valid-rotate-security.json'));
    // Bounded wait for the warm-up, which runs while the delivery is still in the entry.
    for (let i = 0; i < 100 && warmed === 0; i++) await new Promise((r) => setImmediate(r));
    expect(warmed).toBe(1);
    release();
    await handled;
  });

  it('loads nothing for another command, and the delivery is handled all the same', async () => {
    let warmed = 0;
    const { entry, order, release } = setUp(async () => {
      warmed += 1;
    });
    const event = await fixtureEvent('scheduler/valid-reconcile-schedules.json');
    const handled = entry(event);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    release();
    await handled;
    expect(order).toEqual([`entry ${event.id}`]);
    expect(warmed).toBe(0);
  });

  it("a failing warm-up changes nothing about the delivery's outcome", async () => {
    let failed = 0;
    const { entry, release } = setUp(async () => {
      failed += 1;
      throw new Error('cluster unreachable');
    });
    const handled = entry(await fixtureEvent('scheduler/valid-rotate-security.json'));
    for (let i = 0; i < 100 && failed === 0; i++) await new Promise((r) => setImmediate(r));
    release();
    await expect(handled).resolves.toBeUndefined();
    expect(failed).toBe(1);
  });
});
